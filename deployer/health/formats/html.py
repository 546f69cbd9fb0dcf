"""The health report as one self-contained HTML file: a topology picture (SVG) above the tables."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from deployer.health.formats.hosts import HostView, by_zone
from deployer.health.formats.markdown import MARK, verdict
from deployer.health.model import CheckReport, HealthReport, Status

COLORS = {Status.OK: "#2e7d32", Status.WARN: "#f9a825", Status.FAIL: "#c62828", Status.SKIP: "#78909c"}
TEXT_ON = {Status.OK: "#ffffff", Status.WARN: "#212121", Status.FAIL: "#ffffff", Status.SKIP: "#ffffff"}

ZONE_WIDTH = 230
ZONE_GAP = 20
HOST_HEIGHT = 58
HOST_GAP = 10
HEADER = 46
MARGIN = 10

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #212121; background: #fafafa; }
h1 { margin: 0 0 4px 0; font-size: 22px; }
.verdict { font-size: 18px; padding: 8px 12px; border-radius: 6px; display: inline-block;
  margin: 8px 0 16px; }
.s-ok { background: #e8f5e9; } .s-warn { background: #fff8e1; } .s-fail { background: #ffebee; }
.s-skip { background: #eceff1; }
table { border-collapse: collapse; margin: 6px 0 18px; font-size: 13px; }
th, td { border: 1px solid #cfd8dc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.mark { font-weight: bold; }
h2 { font-size: 17px; margin: 20px 0 6px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border-radius: 4px;
  font-size: 12px; }
svg text { font-family: system-ui, sans-serif; }
"""


def picture(hosts: Sequence[HostView], fragile: frozenset[str] = frozenset()) -> str:
    """Hosts grouped by failure domain (one column per zone), each box colored by its status.

    `fragile` names the hosts and zones whose loss the service would not survive right now:
    they get a thick outline and a note, so the next single point of failure stands out.
    """
    zones = by_zone(list(hosts))
    if not zones:
        return ""
    tallest = max(len(z) for z in zones.values())
    width = MARGIN * 2 + len(zones) * ZONE_WIDTH + (len(zones) - 1) * ZONE_GAP
    height = MARGIN * 2 + HEADER + tallest * (HOST_HEIGHT + HOST_GAP) + HOST_GAP
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="hosts by failure domain">'
        )
    ]
    for index, (zone, members) in enumerate(zones.items()):
        x = MARGIN + index * (ZONE_WIDTH + ZONE_GAP)
        box = height - 2 * MARGIN
        weak = zone in fragile
        stroke = 'stroke="#b71c1c" stroke-width="3"' if weak else 'stroke="#90a4ae" stroke-dasharray="6 4"'
        parts.append(f'<g class="zone" data-zone="{escape(zone)}" data-fragile="{str(weak).lower()}">')
        parts.append(
            f'<rect x="{x}" y="{MARGIN}" width="{ZONE_WIDTH}" height="{box}" rx="10" '
            f'fill="#eceff1" {stroke}/>'
        )
        color = "#b71c1c" if weak else "#37474f"
        middle = f"{x + ZONE_WIDTH / 2:g}"
        parts.append(
            f'<text x="{middle}" y="{MARGIN + 21}" text-anchor="middle" font-size="15" '
            f'font-weight="bold" fill="{color}">{escape(zone)}</text>'
        )
        if weak:
            parts.append(
                f'<text x="{middle}" y="{MARGIN + 37}" text-anchor="middle" font-size="11" '
                f'fill="{color}">losing it now is not survivable</text>'
            )
        for row, host in enumerate(members):
            top = MARGIN + HEADER + row * (HOST_HEIGHT + HOST_GAP)
            parts.append(_host_box(host, x + HOST_GAP, top, host.name in fragile))
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _host_box(host: HostView, x: int, y: int, weak: bool) -> str:
    fill, ink = COLORS[host.status], TEXT_ON[host.status]
    width = ZONE_WIDTH - 2 * HOST_GAP
    note = ["single point of failure right now"] if weak else []
    tip = "\n".join([f"{host.name} {host.address}: {MARK[host.status]}", *note, *host.problems])
    outline = ' stroke="#212121" stroke-width="4" stroke-dasharray="8 3"' if weak else ""
    status = f"{MARK[host.status]}, SPOF now" if weak else MARK[host.status]
    roles = ", ".join(host.roles)
    where = f" rack {host.rack}" if host.rack else ""
    return (
        f'<g class="host" data-host="{escape(host.name)}" data-status="{host.status}" '
        f'data-fragile="{str(weak).lower()}">'
        f"<title>{escape(tip)}</title>"
        f'<rect x="{x}" y="{y}" width="{width}" height="{HOST_HEIGHT}" rx="6" fill="{fill}"{outline}/>'
        f'<text x="{x + 10}" y="{y + 21}" font-size="14" font-weight="bold" fill="{ink}">{escape(host.name)}'
        f"</text>"
        f'<text x="{x + width - 10}" y="{y + 21}" font-size="11" text-anchor="end" fill="{ink}">'
        f"{escape(status)}</text>"
        f'<text x="{x + 10}" y="{y + 38}" font-size="11" fill="{ink}">{escape(roles)}</text>'
        f'<text x="{x + 10}" y="{y + 52}" font-size="10" fill="{ink}">{escape(host.address + where)}</text>'
        "</g>"
    )


def _table(headers: Sequence[str], rows: Sequence[tuple[Status, Sequence[str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for status, cells in rows:
        tds = "".join(
            f'<td class="mark" style="color:{COLORS[status]}">{escape(c)}</td>'
            if i == 1
            else f"<td>{escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        body.append(f'<tr class="s-{status}">{tds}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _check(check: CheckReport) -> str:
    rows = [(r.status, [r.target, MARK[r.status], r.summary]) for r in check.results]
    title = f"{check.title} — {MARK[check.status]} ({check.elapsed:.1f} s)"
    return f'<h3 id="check-{escape(check.name)}">{escape(title)}</h3>' + _table(
        ["Target", "Status", "Detail"], rows
    )


def render(report: HealthReport, hosts: Sequence[HostView], generated_at: str = "") -> str:
    status = report.status
    when = f" — {escape(generated_at)}" if generated_at else ""
    legend = "".join(
        f'<span style="background:{COLORS[s]};color:{TEXT_ON[s]}">{MARK[s]}</span>' for s in COLORS
    )
    failover = next((c for c in report.checks if c.name == "failover"), None)
    fragile = frozenset(
        str(r.details.get("lost", ""))
        for r in (failover.results if failover else [])
        if r.status is Status.WARN and r.details.get("kind") in {"host", "zone"}
    )
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Health of {escape(report.environment)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Health of {escape(report.environment)}</h1>",
        f'<div class="verdict s-{status}">{escape(verdict(report))}</div>',
        f"<div>{report.elapsed:.1f} s{when}</div>",
        "<h2>Hosts by failure domain</h2>",
        f'<div class="legend">{legend}</div>',
        picture(hosts, fragile),
    ]
    if failover is not None:
        sections += ["<h2>Failover readiness (live)</h2>", _check(failover)]
    sections.append("<h2>Checks</h2>")
    sections += [_check(c) for c in report.checks if c is not failover]
    sections.append("</body></html>")
    return "\n".join(sections) + "\n"
