"""`deployer deploy`: the whole cluster from the verified bundle, to VM hosts or a Kubernetes API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from deployer.cli.options import environment_options, kubeconfig_option
from deployer.errors import DeployerError
from deployer.topology.model import Platform

if TYPE_CHECKING:
    from deployer.execute import DeployOptions
    from deployer.topology import Environment


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
@kubeconfig_option
@click.option(
    "--rollout-timeout",
    metavar="SECONDS",
    type=click.FloatRange(min=0),
    default=900.0,
    show_default=True,
    help="Kubernetes: seconds each Deployment may take to roll out before it is rolled back.",
)
@click.option("--notify", "notify_url", metavar="URL", help="Post a summary to this incoming webhook.")
def deploy(  # noqa: PLR0917 - one parameter per CLI option
    env: str | None,
    inventory: str | None,
    bundle: Path | None,
    check: bool,
    diff: bool,
    limit: str | None,
    tags: str | None,
    kubeconfig: str | None,
    rollout_timeout: float,
    notify_url: str | None,
) -> None:
    """Verify the bundle, serve it to the hosts and run the site playbook.

    Ends with a table per host and the log file's path. Exit codes: 0 deployed, 2 bad input, 3 a
    bundle that does not verify or a host that failed (the message names the file, or the host and task).

    A kubernetes environment is applied to the cluster of --kubeconfig instead: bundle verified,
    manifests rendered and checked, server-side apply, each Deployment's rollout awaited, and
    everything rolled back if one fails. Exit 0 deployed, 2 bad input (kubeconfig missing or
    unreadable), 3 failed: the bundle does not verify or lacks an image, the API server is
    unreachable or refuses an object, or a rollout fails (then rolled back).

    --notify URL posts the outcome (deployed, or failed and why) to a Mattermost incoming webhook;
    a notification that fails is reported and never changes the exit code.
    """
    from deployer.topology import load_environment  # noqa: PLC0415 - keep --help fast

    environment = load_environment(env, inventory)
    try:
        if environment.topology.platform is Platform.KUBERNETES:
            vm_only = {"--check": check, "--diff": diff, "--limit": limit, "--tags": tags}
            _refuse([name for name, value in vm_only.items() if value], environment.name, "VM")
            summary = _deploy_kubernetes(environment, bundle, kubeconfig, rollout_timeout)
        else:
            if kubeconfig:
                _refuse(["--kubeconfig"], environment.name, "kubernetes")
            from deployer.execute import DeployOptions  # noqa: PLC0415

            options = DeployOptions(bundle=bundle, check=check, diff=diff, limit=limit, tags=tags)
            summary = _deploy_vm(environment, options)
    except DeployerError as exc:
        _notify(notify_url, f"#### deploy of {environment.name}: FAILED\n{exc.message}")
        raise
    _notify(notify_url, summary)


def _deploy_vm(environment: Environment, options: DeployOptions) -> str:
    """Deploy and print the outcome; returns the summary for the webhook."""
    from deployer.execute import deploy as run_deploy  # noqa: PLC0415

    result = run_deploy(environment, options, click.echo)
    mode = " (check mode: nothing changed)" if options.check else ""
    line = (
        f"deployed {result.environment} in {result.seconds:.0f} s{mode}: "
        f"{result.run.changed} change(s) on {len(result.run.hosts)} host(s)"
    )
    click.echo(line)
    click.echo(result.table())
    click.echo(f"log: {result.run.log_file}")
    return f"#### {line}\n```\n{result.table()}\n```"


def _notify(url: str | None, text: str) -> None:
    from deployer import notify  # noqa: PLC0415 - only when asked

    notify.notify(url, text, echo=lambda line: click.echo(line, err=True))


def _refuse(options: list[str], env_name: str, platform: str) -> None:
    if options:
        raise DeployerError(
            f"{', '.join(options)}: only for {platform} environments, and {env_name} is not one",
            hint=f"drop {', '.join(options)}",
        )


def _deploy_kubernetes(
    environment: Environment, bundle: Path | None, kubeconfig: str | None, timeout: float
) -> str:
    from deployer.kube.deploy import KubeDeployOptions, deploy_kubernetes  # noqa: PLC0415 - heavy

    options = KubeDeployOptions(kubeconfig=kubeconfig, bundle=bundle, timeout=timeout)
    result = deploy_kubernetes(environment, options, click.echo)
    click.echo(result.summary())
    click.echo(result.table())
    return f"#### {result.summary()}\n```\n{result.table()}\n```"
