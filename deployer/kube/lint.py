"""Helm's own lint of the chart with an environment's values: `python -m deployer.kube.lint -e k8s-prod`."""

from __future__ import annotations

import sys

import click

from deployer.cli.options import environment_options
from deployer.errors import CheckFailedError, DeployerError
from deployer.kube.render import chart_dir
from deployer.kube.values import chart_values, kube_section
from deployer.topology.load import load_environment

_SEVERITY = {0: "unknown", 1: "info", 2: "warning", 3: "error"}


def lint_chart(env: str | None, inventory: str | None) -> list[str]:
    """Lint strictly (warnings fail) for the environment's Kubernetes version; returns the messages."""
    import helm_python as helm  # noqa: PLC0415 - native library

    environment = load_environment(env, inventory)
    kube = kube_section(environment.topology)
    report = helm.lint(chart_dir(), chart_values(environment), strict=True, kube_version=f"v{kube.version}.0")
    lines = [f"{_SEVERITY.get(m['severity'], '?')}: {m['path']}: {m['error']}" for m in report["messages"]]
    failed = report["errors"] or any(m["severity"] >= 2 for m in report["messages"])  # noqa: PLR2004
    if failed:
        raise CheckFailedError("helm lint failed:\n  " + "\n  ".join(lines + report["errors"]))
    return lines


@click.command()
@environment_options
def main(env: str | None, inventory: str | None) -> None:
    """Run Helm's lint on charts/mattermost-ha with the values of ENV."""
    try:
        for line in lint_chart(env, inventory):
            click.echo(line)
    except DeployerError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(int(exc.exit_code))
    click.echo(f"helm lint: {chart_dir().name} clean")


if __name__ == "__main__":
    main()
