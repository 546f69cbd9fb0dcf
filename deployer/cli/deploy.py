"""`deployer deploy`: the whole cluster from the verified bundle, with progress and a recap per host."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.options import environment_options
from deployer.errors import KubernetesDeployUnavailableError
from deployer.topology.model import Platform


@click.command()
@environment_options
@click.option(
    "--bundle", "bundle", type=click.Path(path_type=Path), help="Bundle file (default: the topology's)."
)
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.option("--diff", is_flag=True, help="Show the changes made to files (with --check: would make).")
@click.option("--limit", metavar="HOSTS", help="Only these hosts or groups (Ansible pattern).")
@click.option(
    "--tags", metavar="TAGS", help="Only these tiers: common, etcd, database, storage, loadbalancer."
)
def deploy(  # noqa: PLR0917 - one parameter per CLI option
    env: str | None,
    inventory: str | None,
    bundle: Path | None,
    check: bool,
    diff: bool,
    limit: str | None,
    tags: str | None,
) -> None:
    """Verify the bundle, serve it to the hosts and run the site playbook.

    Ends with a table per host and the log file's path. Exit codes: 0 deployed, 2 bad input or a
    bundle that does not verify, 3 a host failed (the message names the host and task).
    """
    from deployer.execute import DeployOptions  # noqa: PLC0415 - keep --help fast
    from deployer.execute import deploy as run_deploy  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    environment = load_environment(env, inventory)
    if environment.topology.platform is Platform.KUBERNETES:
        raise KubernetesDeployUnavailableError("deploy", environment.name)
    options = DeployOptions(bundle=bundle, check=check, diff=diff, limit=limit, tags=tags)
    result = run_deploy(environment, options, click.echo)
    mode = " (check mode: nothing changed)" if check else ""
    click.echo(
        f"deployed {result.environment} in {result.seconds:.0f} s{mode}: "
        f"{result.run.changed} change(s) on {len(result.run.hosts)} host(s)"
    )
    click.echo(result.table())
    click.echo(f"log: {result.run.log_file}")
