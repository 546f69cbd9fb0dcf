"""The health report as JSON, in the shape documented by health-report.schema.json beside this file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deployer.health.formats.hosts import HostView
from deployer.health.model import CheckReport, HealthReport, Status

SCHEMA_ID = "deployer-health/1"
SCHEMA_FILE = Path(__file__).with_name("health-report.schema.json")


def _check(check: CheckReport) -> dict[str, Any]:
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


def _failover(report: HealthReport) -> list[dict[str, Any]]:
    check = next((c for c in report.checks if c.name == "failover"), None)
    if check is None:
        return []
    return [
        {
            "kind": r.details["kind"],
            "lost": r.details["lost"],
            "lost_hosts": r.details["lost_hosts"],
            "survives": r.details["survives"],
            "by_design": r.details["by_design"],
            "status": str(r.status),
            "summary": r.summary,
        }
        for r in check.results
        if "kind" in r.details
    ]


def document(report: HealthReport, hosts: Sequence[HostView], generated_at: str = "") -> dict[str, Any]:
    from deployer.health.formats import exit_code  # noqa: PLC0415 - the package imports this module

    counts = {str(s): sum(1 for c in report.checks if c.status is s) for s in Status}
    return {
        "schema": SCHEMA_ID,
        "environment": report.environment,
        "generated_at": generated_at,
        "healthy": report.healthy,
        "status": str(report.status),
        "exit_code": int(exit_code(report)),
        "elapsed_seconds": round(report.elapsed, 3),
        "counts": counts,
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "zone": h.zone,
                "rack": h.rack,
                "roles": list(h.roles),
                "status": str(h.status),
                "problems": list(h.problems),
            }
            for h in hosts
        ],
        "failover": _failover(report),
        "checks": [_check(c) for c in report.checks],
    }


def render(report: HealthReport, hosts: Sequence[HostView], generated_at: str = "") -> str:
    return json.dumps(document(report, hosts, generated_at), indent=2, default=str) + "\n"
