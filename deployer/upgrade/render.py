"""Renders an upgrade plan as a runbook a person follows by hand: Markdown, self-contained HTML or JSON."""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from deployer.upgrade.model import WORKSTATION, Step, UpgradePlan
from deployer.upgrade.versions import Strategy

FORMATS = ("markdown", "html", "json")
STRATEGY_TEXT = {
    Strategy.NOTHING: "nothing to do",
    Strategy.ROLLING: "rolling, one node at a time (patch release)",
    Strategy.WINDOW: "maintenance window, one node migrates (minor or major release)",
}
BUNDLE = "$BUNDLE"  # the unpacked, verified bundle on the workstation


def size_text(size: int | None) -> str:
    if size is None:
        return "unknown (could not be read)"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":  # noqa: PLR2004 - binary units
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def duration_text(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _versions(plan: UpgradePlan) -> str:
    return ", ".join(sorted({n.version for n in plan.nodes}))


def _facts(plan: UpgradePlan, generated: str | None) -> list[tuple[str, str]]:
    facts = [
        ("Environment", plan.environment),
        ("From", _versions(plan)),
        ("To", plan.target),
        ("Strategy", STRATEGY_TEXT[plan.strategy]),
        ("Release tarball", f"{plan.tarball} (sha256 {plan.tarball_sha256})"),
        ("New release folder", plan.release_dir),
        ("Backups", plan.backup_dir),
        ("Expected duration", f"{duration_text(plan.expected_seconds)} for {len(plan.steps)} steps"),
    ]
    if generated:
        facts.append(("Generated", generated))
    return facts


def _hosts(step: Step) -> str:
    if step.hosts == [WORKSTATION]:
        return "your workstation (with access to the cluster network)"
    if len(step.hosts) == 1:
        return step.hosts[0]
    return ", ".join(step.hosts) + " (run on each, in this order)"


def _upload_commands(step: Step) -> list[str]:
    if step.upload is None:
        return []
    return [f"scp {BUNDLE}/{step.upload.source} {host}:{step.upload.destination}" for host in step.hosts]


# -- Markdown --------------------------------------------------------------------------------------


def markdown(plan: UpgradePlan, generated: str | None = None) -> str:
    out: list[str] = [
        f"# Upgrade runbook: {plan.environment}, Mattermost {_versions(plan)} → {plan.target}",
        "",
    ]
    out += ["| | |", "|---|---|"]
    out += [f"| {key} | {_cell(value)} |" for key, value in _facts(plan, generated)]
    out += ["", "## Before you start", ""]
    out += [f"- {note}" for note in plan.notes]
    out += [
        (
            "- Run each step's commands on the host it names, as the deploy user, in order; `sudo` is "
            "written out where root is needed."
        ),
        (
            f"- `{BUNDLE}` is the environment's unpacked, verified bundle on your workstation "
            "(`deployer bundle unpack`)."
        ),
        (
            "- After each step, check its gate. If the gate does not pass within the time given, run "
            "that step's rollback, then those of the earlier steps of the same unit, newest first, and stop."
        ),
        "",
        "## Nodes now",
        "",
        "| node | address | version | release folder |",
        "|---|---|---|---|",
    ]
    out += [f"| {n.name} | {n.address} | {n.version} | `{n.release_dir}` |" for n in plan.nodes]
    if plan.backups:
        out += ["", "## Backups", "", "| what | host | path | estimated size |", "|---|---|---|---|"]
        out += [
            f"| {b.what} | {b.host} | `{b.path}` | {size_text(b.estimated_bytes)} |" for b in plan.backups
        ]
    out += ["", "## Steps"]
    for number, step in enumerate(plan.steps, start=1):
        out += ["", f"### {number}. {step.title}", ""]
        out += [f"- **Step:** `{step.id}`" + (f" (unit `{step.unit}`)" if step.unit else "")]
        out += [
            f"- **Host:** {_hosts(step)}",
            f"- **Expected duration:** {duration_text(step.expected_seconds)}",
        ]
        if step.why:
            out += ["", step.why]
        uploads = _upload_commands(step)
        if uploads:
            out += ["", "From your workstation:", "", "```sh", *uploads, "```"]
        if step.commands:
            out += ["", "Commands:", "", "```sh", *step.commands, "```"]
        if step.gate is not None:
            out += [
                "",
                f"**Gate** (within {duration_text(step.gate.timeout_seconds)}): {step.gate.description}",
            ]
            if step.gate.by_hand:
                out += ["", "```sh", *step.gate.by_hand, "```"]
        out += ["", "**Rollback:**" + ("" if step.rollback else " nothing to undo.")]
        for rollback in step.rollback:
            out += ["", f"On {rollback.host}:", "", "```sh", *rollback.commands, "```"]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


# -- HTML ------------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
section.step{border-top:2px solid #888;margin-top:1.5rem}.gate{background:#eef6ee;padding:.4rem}
.rollback{background:#fbeeee;padding:.4rem}input[type=checkbox]{transform:scale(1.3);margin-right:.5rem}
@media print{pre{white-space:pre-wrap}}
""".strip()


def html_page(plan: UpgradePlan, generated: str | None = None) -> str:
    e: Callable[[str], str] = html.escape
    title = f"Upgrade runbook: {plan.environment}, Mattermost {_versions(plan)} → {plan.target}"
    out = [
        "<!doctype html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _facts(plan, generated)),
        "</table>",
        "<h2>Before you start</h2>",
        "<ul>",
        *(f"<li>{e(note)}</li>" for note in plan.notes),
        f"<li>{e(BUNDLE)} is the unpacked, verified bundle on your workstation.</li>",
        (
            "<li>After each step check its gate; if it does not pass in time, run the step's rollback, "
            "then those of the earlier steps of the same unit, newest first, and stop.</li>"
        ),
        "</ul>",
        "<h2>Nodes now</h2>",
        "<table><tr><th>node</th><th>address</th><th>version</th><th>release folder</th></tr>",
        *(
            f"<tr><td>{e(n.name)}</td><td>{e(n.address)}</td><td>{e(n.version)}</td>"
            f"<td><code>{e(n.release_dir)}</code></td></tr>"
            for n in plan.nodes
        ),
        "</table>",
    ]
    if plan.backups:
        out += [
            "<h2>Backups</h2>",
            "<table><tr><th>what</th><th>host</th><th>path</th><th>estimated size</th></tr>",
        ]
        out += [
            f"<tr><td>{e(b.what)}</td><td>{e(b.host)}</td><td><code>{e(b.path)}</code></td>"
            f"<td>{e(size_text(b.estimated_bytes))}</td></tr>"
            for b in plan.backups
        ]
        out.append("</table>")
    out.append("<h2>Steps</h2>")
    for number, step in enumerate(plan.steps, start=1):
        unit = f" (unit <code>{e(step.unit)}</code>)" if step.unit else ""
        out += [
            f'<section class="step" id="{e(step.id)}">',
            f'<h3><label><input type="checkbox">{number}. {e(step.title)}</label></h3>',
            (
                f"<p><b>Step</b> <code>{e(step.id)}</code>{unit} · <b>Host</b> {e(_hosts(step))}"
                f" · <b>Expected</b> {e(duration_text(step.expected_seconds))}</p>"
            ),
        ]
        if step.why:
            out.append(f"<p>{e(step.why)}</p>")
        uploads = _upload_commands(step)
        if uploads:
            out.append(f"<p>From your workstation:</p><pre>{e(chr(10).join(uploads))}</pre>")
        if step.commands:
            out.append(f"<p>Commands:</p><pre>{e(chr(10).join(step.commands))}</pre>")
        if step.gate is not None:
            out.append(
                f'<div class="gate"><p><b>Gate</b> (within {e(duration_text(step.gate.timeout_seconds))}): '
                f"{e(step.gate.description)}</p>"
                + (f"<pre>{e(chr(10).join(step.gate.by_hand))}</pre>" if step.gate.by_hand else "")
                + "</div>"
            )
        out.append(
            '<div class="rollback"><p><b>Rollback:</b>'
            + ("" if step.rollback else " nothing to undo.")
            + "</p>"
        )
        out += [f"<p>On {e(r.host)}:</p><pre>{e(chr(10).join(r.commands))}</pre>" for r in step.rollback]
        out += ["</div>", "</section>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# -- JSON ------------------------------------------------------------------------------------------


def as_json(plan: UpgradePlan, generated: str | None = None) -> str:
    data = plan.model_dump(mode="json")
    data["expected_seconds"] = plan.expected_seconds
    if generated:
        data["generated"] = generated
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[UpgradePlan, str | None], str]] = {
    "markdown": markdown,
    "html": html_page,
    "json": as_json,
}


def render(plan: UpgradePlan, fmt: str, generated: str | None = None) -> str:
    return RENDERERS[fmt](plan, generated)
