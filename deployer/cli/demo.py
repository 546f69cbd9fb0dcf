"""`deployer demo`: the main job on the built-in lab environment, step by step.

Validate and explain the topology, build and sign its bundle, bring up the lab's hosts, deploy
the whole cluster from the bundle, show its health, and say where everything is.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deployer.cli.options import environment_options
from deployer.errors import CheckFailedError

if TYPE_CHECKING:
    from deployer.topology import Environment

DEMO_ENV = "staging"
STANDIN_MARK = "TEST DOUBLE"


def _step(number: int, title: str) -> None:
    click.echo(f"\n== step {number}: {title}")


def which_mattermost(tarball: str) -> str:
    """What the tarball holds, said plainly: the stand-in marks itself in mattermost/README.md."""
    path = Path(tarball)
    if not path.is_file():
        return f"the release tarball {tarball}"
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("mattermost/README.md")
            text = member.read(4096).decode(errors="replace") if member else ""
    except (KeyError, tarfile.TarError, OSError):
        text = ""
    if STANDIN_MARK in text:
        return f"the Mattermost STAND-IN ({path.name}), a test double, NOT the real Mattermost server"
    return f"the Mattermost release tarball {path}"


def _where(environment: Environment, used: str, bundle: Path, log_file: Path) -> None:
    from deployer.lab.ssh import ssh_files  # noqa: PLC0415
    from deployer.secrets import vault_file, vault_password_file  # noqa: PLC0415

    name = environment.name
    site = environment.topology.mattermost.site_url
    vip = environment.topology.loadbalancer.vip
    click.echo("\ndone. Where everything is:")
    click.echo(f"  Mattermost:      {site} (the VIP {vip}; add it to /etc/hosts to browse)")
    click.echo(f"  deployed:        {used}")
    click.echo(f"  CA certificate:  build/{name}/{name}-ca.crt (import it in a browser to trust the site)")
    click.echo(f"  topology:        {environment.source.file}")
    click.echo(f"  bundle:          {bundle}")
    click.echo(f"  secrets (vault): {vault_file(environment)} (password file {vault_password_file(name)})")
    click.echo(f"  deploy log:      {log_file}")
    click.echo(
        f"  ssh to a host:   deployer lab ssh -e {name} HOST   (known_hosts {ssh_files(name).known_hosts})"
    )
    click.echo(f"  health again:    deployer health -e {name} --format html -o {name}-health.html")
    click.echo(f"  remove the lab:  deployer lab down -e {name}")


@click.command()
@environment_options
@click.option(
    "--mattermost-tarball",
    "tarball",
    metavar="PATH_OR_URL",
    required=True,
    help="The Mattermost release tarball to deploy (the Makefile passes the stand-in unless told).",
)
def demo(env: str | None, inventory: str | None, tarball: str) -> None:
    """Validate, bundle, bring up the lab, deploy and report health of an environment (default: staging).

    Everything runs on this machine: the lab's hosts are containers on an internal network with no
    route out, and they get their packages only from the bundle. Exit 0 when the cluster is
    deployed and healthy, 3 when a step fails (the message names it).
    """
    from deployer.bundle import keys  # noqa: PLC0415 - keep --help fast
    from deployer.bundle.build import BuildOptions, build_environment, default_key  # noqa: PLC0415
    from deployer.bundle.progress import Reporter  # noqa: PLC0415
    from deployer.checks.explain import analyse  # noqa: PLC0415
    from deployer.checks.rules import run_checks  # noqa: PLC0415
    from deployer.execute import DeployOptions  # noqa: PLC0415
    from deployer.execute import deploy as run_deploy  # noqa: PLC0415
    from deployer.health import formats  # noqa: PLC0415
    from deployer.health.readiness import full_report  # noqa: PLC0415
    from deployer.lab import lifecycle  # noqa: PLC0415
    from deployer.report.validation import analysis_text, findings_text  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    environment = load_environment(env or (None if inventory else DEMO_ENV), inventory)
    name = environment.name
    used = which_mattermost(tarball)
    click.echo(f"demo of {name}: deploying {used}")

    _step(1, f"validate {name} against the HA rules and explain what survives each loss")
    report = run_checks(environment.topology, environment.root)
    click.echo(findings_text(environment, report))
    if report.errors:
        raise CheckFailedError(f"{name} does not pass its checks; stopping")
    click.echo(analysis_text(analyse(environment.topology)))

    _step(2, "build and sign the offline bundle (the connected side)")
    key = default_key(environment)
    if not key.is_file():
        made = keys.generate(key.parent)
        click.echo(f"new signing key {made.private} (public half {made.public})")
    built = build_environment(environment, BuildOptions(mattermost_tarball=tarball), reporter=Reporter())
    bundle = built.outputs[0]
    click.echo(f"bundle {bundle} ({len(built.manifest.files)} files) signed with key {built.manifest.key_id}")

    _step(3, "bring up the lab's hosts (containers on an internal network, no route out)")
    lifecycle.up(environment, progress=click.echo)

    _step(4, "deploy the whole cluster from the bundle")
    result = run_deploy(environment, DeployOptions(bundle=bundle), click.echo)
    click.echo(f"deployed {name} in {result.seconds:.0f} s: {result.run.changed} change(s)")
    click.echo(result.table())

    _step(5, "health: is it serving, replicating and storing, and can it lose a zone now?")
    health = full_report(environment)
    click.echo(formats.render(health, "text"))

    _where(environment, used, bundle, result.run.log_file)
    if not health.healthy:
        raise CheckFailedError(f"{name} is deployed but not healthy (see the report above)")
