"""`deployer health`: is the deployed environment serving, replicating and storing right now."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from deployer.cli.options import environment_options, format_option, kubeconfig_option
from deployer.errors import DeployerError
from deployer.topology.model import Platform


@click.command()
@environment_options
@format_option("text", "json", "junit", "markdown", "html")
@click.option(
    "-o",
    "--output",
    "output_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to FILE; the terminal gets the one-line verdict.",
)
@click.option("--notify", "notify_url", metavar="URL", help="Post a short summary to this incoming webhook.")
@click.option(
    "--basic",
    is_flag=True,
    help="Only the app tier over HTTP(S): no SSH to the hosts, no data-tier internals.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=10.0,
    show_default=True,
    help="Seconds each request may take.",
)
@kubeconfig_option
@click.pass_context
def health(  # noqa: PLR0917 - click passes each option as an argument
    ctx: click.Context,
    env: str | None,
    inventory: str | None,
    fmt: str,
    output_file: Path | None,
    notify_url: str | None,
    basic: bool,
    timeout: float,
    kubeconfig: str | None,
) -> None:
    """Check the app nodes, the cluster, the HTTPS entry point, every host, the database, etcd,
    the load balancers and the storage, then say whether losing each host or zone now is survivable.

    All checks run at once, each under its own timeout. Exit 0 healthy, 4 degraded but serving
    (warnings only), 3 a check fails, 2 bad input. A failed --notify is reported, never an exit code.

    A kubernetes environment is read through the API server of --kubeconfig: the Deployment, its
    pods and their spread over nodes, the Services' endpoints and the deep ping through the
    Service. A failing probe is a warning while the ping still answers OK, a failure once it does
    not. An unreachable API server exits 3; a missing or unreadable kubeconfig exits 2.
    """
    from deployer import notify  # noqa: PLC0415 - keep `--help` fast
    from deployer.health import formats  # noqa: PLC0415
    from deployer.health.formats.hosts import host_views  # noqa: PLC0415
    from deployer.health.formats.markdown import summary, verdict  # noqa: PLC0415
    from deployer.health.readiness import full_report  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    environment = load_environment(env, inventory)
    if environment.topology.platform is Platform.KUBERNETES:
        from deployer.kube.deploy import kube_health_report  # noqa: PLC0415 - the client is heavy

        report = kube_health_report(environment, kubeconfig, timeout)
    elif kubeconfig:
        raise DeployerError(
            f"--kubeconfig: only for kubernetes environments, and {environment.name} is not one",
            hint="drop --kubeconfig",
        )
    else:
        report = full_report(environment, timeout, extended=not basic)
    generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rendered = formats.render(report, fmt, host_views(environment.topology, report), generated)
    if output_file is not None:
        output_file.write_text(rendered, encoding="utf-8")
        click.echo(f"{verdict(report)}; {fmt} report written to {output_file}")
    else:
        click.echo(rendered, nl=False)
    notify.notify(notify_url, summary(report), echo=lambda line: click.echo(line, err=True))
    ctx.exit(formats.exit_code(report))
