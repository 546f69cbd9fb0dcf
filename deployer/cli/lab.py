"""`deployer lab`: real systemd hosts for an environment, on a network with no route out."""

from __future__ import annotations

import subprocess

import click

from deployer.cli.options import environment_options, format_option
from deployer.errors import EnvironmentNotFoundError


@click.group()
def lab() -> None:
    """Run an environment's hosts as containers on this machine, cut off from the outside."""


def _env_name(env: str | None, inventory: str | None) -> str:
    from deployer.topology import load_environment  # noqa: PLC0415 - keep `--help` fast

    return load_environment(env, inventory).name


@lab.command()
@environment_options
@click.option(
    "--lab",
    "rehearse",
    is_flag=True,
    help="Map hosts with real addresses to lab addresses (rehearse a real inventory).",
)
def up(env: str | None, inventory: str | None, rehearse: bool) -> None:
    """Create the hosts (idempotent) and wait until each answers verified SSH."""
    from deployer.lab import lifecycle, report  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    result = lifecycle.up(load_environment(env, inventory), rehearse=rehearse, progress=click.echo)
    click.echo(report.up_summary(result))


@lab.command()
@environment_options
def down(env: str | None, inventory: str | None) -> None:
    """Remove the environment's containers, volumes and network, and nothing else."""
    from deployer.lab import lifecycle  # noqa: PLC0415

    try:
        name = _env_name(env, inventory)
    except EnvironmentNotFoundError:
        # The inventory may be gone while its lab still runs: the labels are enough.
        if not env or inventory:
            raise
        name = env
    lifecycle.down(name, progress=click.echo)


@lab.command()
@environment_options
@format_option("text", "json")
def status(env: str | None, inventory: str | None, fmt: str) -> None:
    """Show each host's address, roles and state."""
    from deployer.lab import lifecycle, report  # noqa: PLC0415

    result = lifecycle.status(_env_name(env, inventory))
    click.echo(report.status_json(result) if fmt == "json" else report.status_text(result))


@lab.command(context_settings={"ignore_unknown_options": True})
@environment_options
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ssh(
    ctx: click.Context,
    env: str | None,
    inventory: str | None,
    host: str,
    command: tuple[str, ...],
) -> None:
    """Open a shell on HOST, or run `-- COMMAND`, over SSH with strict host-key checking."""
    from deployer.lab.ssh import ssh_argv  # noqa: PLC0415

    argv = ssh_argv(_env_name(env, inventory), host, command)
    ctx.exit(subprocess.run(argv, check=False).returncode)


FAULT_FLAGS = ("kill", "stop", "pause", "partition", "heal")


@lab.command()
@environment_options
@click.argument("host")
@click.option("--kill", "kind", flag_value="kill", help="Kill the host at once (power cut).")
@click.option("--stop", "kind", flag_value="stop", help="Shut the host down cleanly.")
@click.option("--pause", "kind", flag_value="pause", help="Freeze every process of the host.")
@click.option("--partition", "kind", flag_value="partition", help="Cut it off the lab network.")
@click.option("--heal", "kind", flag_value="heal", help="Undo whatever fault is applied.")
def fault(env: str | None, inventory: str | None, host: str, kind: str | None) -> None:
    """Inject a fault into HOST, or --heal it and wait until SSH is verified again."""
    from deployer.lab import faults  # noqa: PLC0415

    if kind is None:
        raise click.UsageError(f"choose one of {', '.join('--' + f for f in FAULT_FLAGS)}")
    name = _env_name(env, inventory)
    if kind == "heal":
        done = faults.heal(name, host)
        click.echo(f"{host} healed ({', '.join(done) or 'nothing was applied'}); ssh verified")
    else:
        click.echo(faults.inject(name, host, kind))
