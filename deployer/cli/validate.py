"""`deployer validate`: rules, and with --explain the loss of every host and failure domain."""

from __future__ import annotations

import click

from deployer.checks.explain import analyse
from deployer.checks.findings import Finding
from deployer.checks.rules import run_checks
from deployer.cli.options import environment_options, format_option
from deployer.errors import TopologyError
from deployer.report.validation import analysis_text, findings_text, validation_json
from deployer.topology import load_environment
from deployer.topology.load import Environment
from deployer.topology.model import Platform


@click.command()
@environment_options
@click.option("--explain", is_flag=True, help="Simulate the loss of each host and failure domain.")
@format_option("text", "json")
def validate(env: str | None, inventory: str | None, explain: bool, fmt: str) -> None:
    """Check a topology against the HA rules; exit 3 on errors, 4 on warnings only."""
    try:
        environment = load_environment(env, inventory)
    except TopologyError as exc:
        if fmt == "json":
            click.echo(exc.render(), err=True)
        raise
    report = run_checks(environment.topology, environment.root)
    if environment.topology.platform is Platform.KUBERNETES and not report.errors:
        report.findings.extend(manifest_findings(environment))
    analysis = analyse(environment.topology) if explain else None
    if fmt == "json":
        click.echo(validation_json(environment, report, analysis))
    else:
        click.echo(findings_text(environment, report))
        if analysis is not None:
            click.echo(analysis_text(analysis))
    raise click.exceptions.Exit(int(report.exit_code))


def manifest_findings(environment: Environment) -> list[Finding]:
    """Render the chart in memory and check it: the same checks `render` applies."""
    from deployer.kube import check_kubernetes  # noqa: PLC0415 - only kubernetes envs pay for Helm

    return [
        Finding(f.rule, f.severity, f"{f.file}: {f.resource}: {f.message}", ("kubernetes",))
        for f in check_kubernetes(environment)
    ]
