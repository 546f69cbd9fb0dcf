"""Turns a health report into text tables (one per check) or JSON; no checking logic here."""

from __future__ import annotations

import json
from typing import Any

from deployer.health.model import CheckReport, HealthReport, Status
from deployer.report.table import table

MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def text(report: HealthReport) -> str:
    lines = [f"health of {report.environment}"]
    for check in report.checks:
        lines.append("")
        lines.append(f"{check.title}  [{MARK[check.status]}, {check.elapsed:.1f}s]")
        rows = [[r.target, MARK[r.status], r.summary] for r in check.results]
        lines.append(table(["TARGET", "STATUS", "DETAIL"], rows, indent="  "))
    lines.append("")
    lines.append(_verdict(report))
    return "\n".join(lines)


def _verdict(report: HealthReport) -> str:
    total = len(report.checks)
    if report.healthy and report.warning:
        names = ", ".join(c.name for c in report.warning)
        count = len(report.warning)
        return f"DEGRADED but serving: {count} of {total} checks warn ({names}) after {report.elapsed:.1f}s"
    if report.healthy:
        return f"healthy: {total} checks passed in {report.elapsed:.1f}s"
    names = ", ".join(c.name for c in report.failing)
    return f"UNHEALTHY: {len(report.failing)} of {total} checks failing ({names}) after {report.elapsed:.1f}s"


def _check_json(check: CheckReport) -> dict[str, Any]:
    return {
        "name": check.name,
        "title": check.title,
        "status": str(check.status),
        "elapsed_seconds": round(check.elapsed, 3),
        "results": [
            {"target": r.target, "status": str(r.status), "summary": r.summary, "details": r.details}
            for r in check.results
        ],
    }


def as_json(report: HealthReport) -> str:
    data = {
        "environment": report.environment,
        "healthy": report.healthy,
        "elapsed_seconds": round(report.elapsed, 3),
        "checks": [_check_json(c) for c in report.checks],
    }
    return json.dumps(data, indent=2, sort_keys=False, default=str)
