"""Formats rule findings and the failure analysis as text or JSON."""

from __future__ import annotations

import json
from typing import Any

from deployer.checks.explain import Analysis, State
from deployer.checks.findings import CheckReport, Finding
from deployer.checks.rules import RULES
from deployer.report.table import table
from deployer.topology.load import Environment
from deployer.topology.source import format_path

SHORT = {State.UP: "up", State.DEGRADED: "degraded", State.DOWN: "DOWN"}


def _where(env: Environment, finding: Finding) -> str:
    line, col = env.source.locate(finding.path)
    return f"{env.source.file}:{line}:{col}"


def findings_text(env: Environment, report: CheckReport) -> str:
    topo = env.topology
    if topo.kubernetes is not None and not topo.hosts:
        shape = f"{topo.kubernetes.app_replicas} app replicas over {len(topo.kubernetes.zones)} zone(s)"
    else:
        shape = f"{len(topo.hosts)} host(s) in {len(topo.zones)} zone(s)"
    lines = [f"environment {topo.name} ({env.source.file}): platform {topo.platform}, {shape}"]
    for label, items in (("error", report.errors), ("warning", report.warnings)):
        for f in items:
            key = f" {format_path(f.path)}:" if f.path else ""
            lines.append(f"{label}: {_where(env, f)}:{key} [{f.rule}] {f.message}")
    lines.extend(
        f"accepted: [{f.rule}] {f.message}\n    reason: {f.accepted_reason}" for f in report.accepted
    )
    lines.append(
        f"{len(RULES)} rules checked: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s), {len(report.accepted)} accepted risk(s)"
    )
    return "\n".join(lines)


def analysis_text(analysis: Analysis) -> str:
    if not analysis.scenarios:
        return "failure analysis: not applicable (no hosts to lose)"
    services = [s.name for s in analysis.scenarios[0].services]
    rows = [
        [f"{sc.kind} {sc.target}", SHORT[sc.outcome], *(SHORT[s.state] for s in sc.services)]
        for sc in analysis.scenarios
    ]
    out = [
        "failure analysis: what survives the loss of each host and failure domain",
        table(["LOSS", "OUTCOME", *services], rows, indent="  "),
    ]
    notes = [
        f"  {sc.kind} {sc.target}: {s.name}: {s.detail}"
        for sc in analysis.scenarios
        for s in sc.services
        if s.state is not State.UP
    ]
    if notes:
        out.append("why:")
        out.extend(notes)
    if analysis.broken:
        out.append("already down with nothing lost (fix the errors above): " + ", ".join(analysis.broken))
    if not analysis.spofs:
        out.append("single points of failure: none")
    else:
        out.append("single points of failure:")
        for spof in analysis.spofs:
            line = f"  {spof.kind} {spof.target}: stops {', '.join(spof.services_down)}"
            if spof.accepted_by:
                rules = ", ".join(a.rule for a in spof.accepted_by)
                line += f"\n    accepted ({rules}): {spof.accepted_by[0].reason}"
            else:
                line += "\n    NOT ACCEPTED"
            out.append(line)
    return "\n".join(out)


def findings_json(env: Environment, report: CheckReport) -> list[dict[str, Any]]:
    result = []
    for f in report.findings:
        line, col = env.source.locate(f.path)
        result.append(
            {
                "rule": f.rule,
                "severity": str(f.severity),
                "message": f.message,
                "file": env.source.file,
                "line": line,
                "column": col,
                "key": format_path(f.path),
                "accepted": f.accepted,
                "accepted_reason": f.accepted_reason,
            }
        )
    return result


def analysis_json(analysis: Analysis) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "kind": sc.kind,
                "target": sc.target,
                "lost_hosts": list(sc.lost_hosts),
                "outcome": str(sc.outcome),
                "services": [
                    {"name": s.name, "state": str(s.state), "detail": s.detail} for s in sc.services
                ],
            }
            for sc in analysis.scenarios
        ],
        "broken_without_loss": list(analysis.broken),
        "single_points_of_failure": [
            {
                "kind": s.kind,
                "target": s.target,
                "services_down": list(s.services_down),
                "accepted_by": [{"rule": a.rule, "reason": a.reason} for a in s.accepted_by],
            }
            for s in analysis.spofs
        ],
    }


def validation_json(env: Environment, report: CheckReport, analysis: Analysis | None) -> str:
    doc: dict[str, Any] = {
        "environment": env.topology.name,
        "file": env.source.file,
        "exit_code": int(report.exit_code),
        "summary": {
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "accepted": len(report.accepted),
        },
        "findings": findings_json(env, report),
        "accepted_risks": [{"rule": r.rule, "reason": r.reason} for r in env.topology.accepted_risks],
    }
    if analysis is not None:
        doc["analysis"] = analysis_json(analysis)
    return json.dumps(doc, indent=2, sort_keys=True)
