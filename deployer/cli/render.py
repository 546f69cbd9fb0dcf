"""`deployer render`: the environment's Ansible inventory and variables (or Helm manifests)."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.options import environment_options
from deployer.render import render_environment
from deployer.topology import load_environment


@click.command()
@environment_options
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), help="Default: build/ENV/.")
def render(env: str | None, inventory: str | None, output: Path | None) -> None:
    """Render the environment; the output is byte-identical for the same topology."""
    environment = load_environment(env, inventory)
    out_dir = output or Path("build") / environment.name
    files = render_environment(environment, out_dir)
    groups: dict[str, int] = {}
    for path in files:
        rel = path.relative_to(out_dir)
        key = str(rel.parent) if rel.parent != Path() else str(rel)
        groups[key] = groups.get(key, 0) + 1
    click.echo(f"rendered {len(files)} files for {environment.name} into {out_dir}/")
    for key in sorted(groups):
        click.echo(f"  {key}: {groups[key]} file(s)")
