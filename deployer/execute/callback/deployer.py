"""Ansible stdout callback: compact progress per play and host, and a JSON recap for the deployer.

Loaded by ansible-playbook from this folder (ANSIBLE_CALLBACK_PLUGINS); it never prints a
result's content unless the task failed, and Ansible has already censored `no_log` results.
"""

# Ansible's callback API is untyped and hands results over through private attributes:
# ruff: noqa: ANN401, SLF001

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: deployer
    type: stdout
    short_description: progress per play and host, and a JSON recap for `deployer deploy`
    description: Prints one line per play and per changed, failed or unreachable host result.
"""

RECAP_ENV = "DEPLOYER_RECAP_FILE"
MAX_MESSAGE = 600


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "deployer"

    def __init__(self) -> None:
        super().__init__()
        self._play = ""
        self._play_index = 0
        self._plays_total = 0
        self._task = ""
        self._started = time.monotonic()
        self._play_started = self._started
        self._failures: list[dict[str, str]] = []
        self._changed_tasks: dict[str, list[str]] = {}
        self._counts: dict[str, list[str]] = {}

    # -- plays and tasks -------------------------------------------------------------
    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._plays_total = len(playbook.get_plays())

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._flush_task()
        self._play = play.get_name().strip()
        self._play_index += 1
        self._play_started = time.monotonic()
        mode = "  (check mode)" if play.check_mode else ""
        self._display.display(
            f"[{self._elapsed()}] play {self._play_index}/{self._plays_total}: {self._play}{mode}"
        )

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        del is_conditional
        self._flush_task()
        self._task = (task.name or task.get_name()).strip()
        self._display.display(f"  task {self._task}", log_only=True)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._flush_task()
        self._task = f"handler {(task.name or task.get_name()).strip()}"
        self._display.display(f"  {self._task}", log_only=True)

    def _flush_task(self) -> None:
        """One line per task that changed something: which hosts it changed."""
        changed = self._counts.pop("changed", [])
        self._counts.clear()
        if changed:
            names = ", ".join(sorted(changed)) if len(changed) <= 4 else f"{len(changed)} hosts"  # noqa: PLR2004
            self._display.display(f"  [{self._elapsed()}] changed  {self._task}: {names}")

    # -- results ---------------------------------------------------------------------
    def v2_runner_on_ok(self, result: Any) -> None:
        host = result._host.get_name()
        if result._result.get("changed", False):
            self._changed_tasks.setdefault(host, []).append(self._task)
            self._counts.setdefault("changed", []).append(host)
            self._display.display(f"    changed      {host:<16} {self._task}", log_only=True)
        else:
            self._display.display(f"    ok           {host:<16} {self._task}", log_only=True)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        host = result._host.get_name()
        message = _message(result._result)
        if ignore_errors:
            self._display.display(f"    ignored      {host:<16} {self._task}: {message}", log_only=True)
            return
        self._failures.append({"host": host, "task": self._task, "play": self._play, "message": message})
        self._display.display(f"    FAILED       {host:<16} {self._task}: {message}", color="red")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        host = result._host.get_name()
        message = _message(result._result)
        self._failures.append(
            {"host": host, "task": self._task, "play": self._play, "message": f"unreachable: {message}"}
        )
        self._display.display(f"    UNREACHABLE  {host:<16} {self._task}: {message}", color="red")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._display.display(f"    skipped      {result._host.get_name():<16} {self._task}", log_only=True)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        host = result._host.get_name()
        self._display.display(
            f"    item failed  {host:<16} {self._task}: {_message(result._result)}", log_only=True
        )

    def v2_on_file_diff(self, result: Any) -> None:
        if not self._play_context_diff(result):
            return
        diffs = result._result.get("diff")
        if result._result.get("results"):
            diffs = [r.get("diff") for r in result._result["results"] if r.get("changed")]
        if not diffs:
            return
        for diff in diffs if isinstance(diffs, list) else [diffs]:
            if isinstance(diff, dict | list):
                text = self._get_diff(diff)
                if text.strip():
                    self._display.display(text)

    def _play_context_diff(self, result: Any) -> bool:
        return bool(getattr(result._task, "diff", False)) and result._result.get("changed", False)

    # -- the end ---------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._flush_task()
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {
                "ok": summary["ok"],
                "changed": summary["changed"],
                "failed": summary["failures"],
                "unreachable": summary["unreachable"],
                "skipped": summary["skipped"],
                "rescued": summary["rescued"],
                "ignored": summary["ignored"],
            }
        recap = {
            "hosts": hosts,
            "failures": self._failures,
            "changed_tasks": self._changed_tasks,
            "seconds": round(time.monotonic() - self._started, 1),
        }
        self._display.display(f"[{self._elapsed()}] done", log_only=True)
        self._display.display("recap " + json.dumps(recap, sort_keys=True), log_only=True)
        path = os.environ.get(RECAP_ENV)
        if path:
            with open(path, "w", encoding="utf-8") as handle:  # noqa: PTH123 - plain file, no pathlib needed
                json.dump(recap, handle, indent=1, sort_keys=True)

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self._started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _message(result: dict[str, Any]) -> str:
    """The useful part of a failed result, on one line (Ansible censored no_log ones already)."""
    parts = [str(result.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr", "stdout"):
        text = str(result.get(key) or "").strip()
        if text and text not in parts[0]:
            parts.append(text.splitlines()[-1])
            break
    if not parts[0] and result.get("censored"):
        parts[0] = str(result["censored"])
    message = " | ".join(p for p in parts if p) or "failed"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
