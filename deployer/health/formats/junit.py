"""The health report as JUnit XML: one testcase per check, so CI dashboards chart it like tests."""

from __future__ import annotations

# Only builds XML from our own data; nothing is parsed here.
import xml.etree.ElementTree as ET

from deployer.health.model import CheckReport, HealthReport, Status

MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def _lines(check: CheckReport, statuses: set[Status]) -> str:
    return "\n".join(
        f"{MARK[r.status]} {r.target}: {r.summary}" for r in check.results if r.status in statuses
    )


def _testcase(suite: ET.Element, classname: str, check: CheckReport) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=classname,
        name=f"{check.name}: {check.title}",
        time=f"{check.elapsed:.3f}",
    )
    failing = [r for r in check.results if r.status is Status.FAIL]
    if check.status is Status.FAIL:
        first = failing[0]
        message = f"{len(failing)} of {len(check.results)} results failing: {first.target}: {first.summary}"
        failure = ET.SubElement(case, "failure", message=message, type="fail")
        failure.text = _lines(check, {Status.FAIL})
    elif check.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=check.results[0].summary if check.results else "skipped")
    # Warnings do not fail a CI run (the service serves); they stay visible in the output.
    warnings = _lines(check, {Status.WARN})
    if warnings:
        ET.SubElement(case, "system-err").text = warnings
    ET.SubElement(case, "system-out").text = _lines(check, set(Status))


def render(report: HealthReport, generated_at: str = "") -> str:
    classname = f"health.{report.environment}"
    failures = sum(1 for c in report.checks if c.status is Status.FAIL)
    skipped = sum(1 for c in report.checks if c.status is Status.SKIP)
    counts = {
        "tests": str(len(report.checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.elapsed:.3f}",
    }
    root = ET.Element("testsuites", {"name": f"deployer health {report.environment}", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": classname, **counts})
    if generated_at:
        suite.set("timestamp", generated_at)
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="environment", value=report.environment)
    ET.SubElement(properties, "property", name="status", value=str(report.status))
    warned = ",".join(c.name for c in report.checks if c.status is Status.WARN)
    ET.SubElement(properties, "property", name="warnings", value=warned)
    for check in report.checks:
        _testcase(suite, classname, check)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
