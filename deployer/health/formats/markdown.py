"""The health report as Markdown (for tickets and wikis) and as a short link-free summary for chat."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deployer.health.formats.hosts import HostView
from deployer.health.model import CheckReport, HealthReport, Status

MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}
VERDICT = {
    Status.OK: "healthy",
    Status.WARN: "DEGRADED but serving",
    Status.FAIL: "FAILING",
    Status.SKIP: "nothing checked",
}
_SCHEME = re.compile(r"\b[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def cell(text: str) -> str:
    """Safe in a table cell and never a link: no pipes, no newlines, no URL schemes."""
    return _SCHEME.sub("", text).replace("|", "\\|").replace("\n", " ").strip()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(report: HealthReport) -> str:
    counts = {s: sum(1 for c in report.checks if c.status is s) for s in Status}
    bad = [c.name for c in report.checks if c.status in {Status.FAIL, Status.WARN}]
    text = (
        f"{VERDICT[report.status]}: {counts[Status.OK]} ok, {counts[Status.WARN]} warn, "
        f"{counts[Status.FAIL]} fail, {counts[Status.SKIP]} skipped"
    )
    return text + (f" ({', '.join(bad)})" if bad else "")


def _check(check: CheckReport) -> str:
    rows = [[r.target, MARK[r.status], r.summary] for r in check.results]
    head = f"### {cell(check.title)} — {MARK[check.status]} ({check.elapsed:.1f} s)"
    return head + "\n\n" + table(["Target", "Status", "Detail"], rows)


def render(report: HealthReport, hosts: Sequence[HostView], generated_at: str = "") -> str:
    parts = [f"# Health of {report.environment}", ""]
    when = f" at {generated_at}" if generated_at else ""
    parts += [f"**{verdict(report)}** — {report.elapsed:.1f} s{when}", ""]
    if hosts:
        rows = [
            [h.zone + (f"/{h.rack}" if h.rack else ""), h.name, h.address, ", ".join(h.roles), MARK[h.status]]
            for h in sorted(hosts, key=lambda h: (h.zone, h.rack, h.name))
        ]
        parts += ["## Hosts", "", table(["Zone", "Host", "Address", "Roles", "Status"], rows), ""]
    parts += ["## Checks", ""]
    for check in report.checks:
        parts += [_check(check), ""]
    return "\n".join(parts)


def summary(report: HealthReport, limit: int = 12) -> str:
    """A few lines for a chat channel: the verdict and a table of what is not ok (no links)."""
    lines = [f"**deployer health {cell(report.environment)}: {verdict(report)}**"]
    rows = [
        [check.name, r.target, MARK[r.status], r.summary]
        for check in report.checks
        for r in check.results
        if r.status in {Status.FAIL, Status.WARN}
    ]
    if rows:
        shown = rows[:limit]
        lines += ["", table(["Check", "Target", "Status", "Detail"], shown)]
        if len(rows) > limit:
            lines.append(f"... and {len(rows) - limit} more")
    return "\n".join(lines)
