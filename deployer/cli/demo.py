"""`deployer demo`: the main job on the built-in lab environment, step by step."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.checks.explain import analyse
from deployer.checks.rules import run_checks
from deployer.cli.options import environment_options
from deployer.errors import CheckFailedError
from deployer.render import render_environment
from deployer.report.validation import analysis_text, findings_text
from deployer.topology import load_environment


def _step(number: int, title: str) -> None:
    click.echo(f"\n== step {number}: {title}")


@click.command()
@environment_options
def demo(env: str | None, inventory: str | None) -> None:
    """Validate, explain and render an environment (default: dev), saying where output went."""
    environment = load_environment(env or (None if inventory else "dev"), inventory)
    _step(1, f"validate {environment.name} against the HA rules")
    report = run_checks(environment.topology, environment.root)
    click.echo(findings_text(environment, report))
    if report.errors:
        raise CheckFailedError(f"{environment.name} does not pass its checks; stopping")
    _step(2, "explain: what survives the loss of each host and failure domain")
    click.echo(analysis_text(analyse(environment.topology)))
    _step(3, "render the Ansible inventory and variables")
    out_dir = Path("build") / environment.name
    files = render_environment(environment, out_dir)
    click.echo(f"rendered {len(files)} files into {out_dir}/")
    click.echo("\ndone. Where everything is:")
    click.echo(f"  topology:        {environment.source.file}")
    click.echo(f"  rendered output: {out_dir}/")
