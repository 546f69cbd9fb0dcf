"""Renders a health report for people and machines: text, JSON, JUnit XML, Markdown and HTML."""

from __future__ import annotations

from collections.abc import Sequence

from deployer.errors import ExitCode
from deployer.health.formats.hosts import HostView
from deployer.health.model import HealthReport, Status

FORMATS = ("text", "json", "junit", "markdown", "html")

EXIT_CODES = {Status.OK: ExitCode.OK, Status.WARN: ExitCode.WARNINGS, Status.FAIL: ExitCode.CHECK_FAILED}


def exit_code(report: HealthReport) -> ExitCode:
    """0 healthy, 4 degraded but serving (warnings only), 3 a check failed."""
    return EXIT_CODES.get(report.status, ExitCode.OK)


def render(report: HealthReport, fmt: str, hosts: Sequence[HostView] = (), generated_at: str = "") -> str:
    """The report in one of FORMATS; `hosts` feeds the per-host views (JSON, Markdown, HTML)."""
    from deployer.health import output  # noqa: PLC0415 - each renderer is imported only when used
    from deployer.health.formats import html, jsondoc, junit, markdown  # noqa: PLC0415

    if fmt == "text":
        return output.text(report) + "\n"
    if fmt == "json":
        return jsondoc.render(report, hosts, generated_at)
    if fmt == "junit":
        return junit.render(report, generated_at)
    if fmt == "markdown":
        return markdown.render(report, hosts, generated_at)
    if fmt == "html":
        return html.render(report, hosts, generated_at)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
