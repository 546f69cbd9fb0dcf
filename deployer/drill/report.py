"""A drill's timeline and figures as text, JSON or Markdown, and a short summary for chat."""

from __future__ import annotations

import json
from typing import Any

from deployer.drill.run import DrillResult
from deployer.health.formats.markdown import table as md_table
from deployer.report.table import table

FORMATS = ("text", "json", "markdown")
SECONDS = {"recovery_seconds", "detection_seconds", "heal_seconds"}  # figures measured in seconds


def _value(value: float | None, unit: str = " s") -> str:
    if value is None:
        return "never"
    return f"{value:g}{unit}" if unit else f"{value:g}"


def figure_rows(result: DrillResult) -> list[list[str]]:
    f = result.figures
    return [
        ["detection time", _value(f.detection_seconds)],
        ["recovery time (fault to first successful write)", _value(f.recovery_seconds)],
        ["failed requests after the fault", f"{f.failed_requests} of {f.requests_after_fault}"],
        ["failed writes after the fault", str(f.failed_writes)],
        ["acknowledged writes lost", f"{f.writes_lost} of {f.writes_acknowledged}"],
        ["acknowledged files lost", f"{f.files_lost} of {f.files_acknowledged}"],
        ["heal to green", _value(f.heal_to_green_seconds)],
    ]


def target_rows(result: DrillResult) -> list[list[str]]:
    return [
        [
            m.target.text,
            _value(m.value, " s" if m.target.figure in SECONDS else ""),
            "met" if m.ok else "MISSED",
        ]
        for m in result.met
    ] + [
        [
            "health green again after healing",
            "yes" if result.green else "no",
            "met" if result.green else "MISSED",
        ]
    ]


def headline(result: DrillResult) -> str:
    plan = result.plan
    verdict = "PASSED" if result.passed else "FAILED"
    victims = ", ".join(plan.victims)
    return f"drill {plan.scenario} on {result.environment}: {verdict} ({plan.fault} {victims}; {plan.why})"


def text(result: DrillResult) -> str:
    lines = [headline(result), "", "timeline (seconds from the fault)"]
    lines.append(table(["T", "EVENT"], [[f"{t:+.2f}", e] for t, e in result.timeline], indent="  "))
    lines += ["", "figures", table(["FIGURE", "VALUE"], figure_rows(result), indent="  ")]
    lines += ["", "targets", table(["TARGET", "MEASURED", "RESULT"], target_rows(result), indent="  ")]
    return "\n".join(lines) + "\n"


def markdown(result: DrillResult) -> str:
    parts = [f"# {headline(result)}", "", "## Timeline (seconds from the fault)", ""]
    parts.append(md_table(["T", "Event"], [[f"{t:+.2f}", e] for t, e in result.timeline]))
    parts += ["", "## Figures", "", md_table(["Figure", "Value"], figure_rows(result))]
    parts += ["", "## Targets", "", md_table(["Target", "Measured", "Result"], target_rows(result)), ""]
    return "\n".join(parts)


def as_json(result: DrillResult) -> str:
    f = result.figures
    data: dict[str, Any] = {
        "environment": result.environment,
        "scenario": result.plan.scenario,
        "fault": result.plan.fault,
        "victims": list(result.plan.victims),
        "why": result.plan.why,
        "passed": result.passed,
        "green_again": result.green,
        "figures": {
            "detection_seconds": f.detection_seconds,
            "recovery_seconds": f.recovery_seconds,
            "failed_requests": f.failed_requests,
            "failed_writes": f.failed_writes,
            "requests_after_fault": f.requests_after_fault,
            "failed_before_fault": f.failed_before_fault,
            "writes_acknowledged": f.writes_acknowledged,
            "writes_lost": f.writes_lost,
            "files_acknowledged": f.files_acknowledged,
            "files_lost": f.files_lost,
            "heal_to_green_seconds": f.heal_to_green_seconds,
        },
        "targets": [
            {
                "figure": m.target.figure,
                "limit": m.target.limit,
                "text": m.target.text,
                "value": m.value,
                "met": m.ok,
            }
            for m in result.met
        ],
        "timeline": [{"t": t, "event": e} for t, e in result.timeline],
        "injected": list(result.injected),
        "healed": list(result.healed),
    }
    return json.dumps(data, indent=2) + "\n"


def render(result: DrillResult, fmt: str) -> str:
    if fmt == "json":
        return as_json(result)
    if fmt == "markdown":
        return markdown(result)
    return text(result)


def summary(result: DrillResult) -> str:
    """For a chat channel: the verdict and the figures, no links."""
    rows = figure_rows(result)[:5]
    return f"**{headline(result)}**\n\n" + md_table(["Figure", "Value"], rows)
