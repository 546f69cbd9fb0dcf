"""Evaluates a step's gate: the same checks the runbook describes, retried until they pass or time out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from deployer.health.checks import CLUSTER_STATUS
from deployer.health.http import Answer, HttpError, request
from deployer.upgrade.errors import UpgradeRefusedError
from deployer.upgrade.live import PING
from deployer.upgrade.model import Check, ClusterAgrees, CommandSucceeds, Gate, NodePing
from deployer.upgrade.shell import Shell
from deployer.upgrade.versions import Version

OK = "OK"
POLL_SECONDS = 2.0


class Http(Protocol):
    def __call__(self, address: str, port: int, path: str, headers: dict[str, str]) -> Answer: ...


def http_get(address: str, port: int, path: str, headers: dict[str, str]) -> Answer:
    return request("GET", address, port, path, timeout=10, headers=headers)


@dataclass(frozen=True)
class GateResult:
    ok: bool
    details: list[str]
    seconds: float


@dataclass
class GateRunner:
    shell: Shell
    http: Http = http_get
    token: str | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll: float = POLL_SECONDS
    _headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.token:
            self._headers["Authorization"] = f"Bearer {self.token}"

    def wait(self, gate: Gate) -> GateResult:
        """Evaluate every check until all pass at once or the gate's timeout ends."""
        started = self.clock()
        while True:
            results = [self.evaluate(check) for check in gate.checks]
            passed = all(ok for ok, _ in results)
            elapsed = self.clock() - started
            if passed or elapsed >= gate.timeout_seconds:
                return GateResult(passed, [text for _, text in results], elapsed)
            self.sleep(self.poll)

    def evaluate(self, check: Check) -> tuple[bool, str]:
        if isinstance(check, NodePing):
            return self._ping(check)
        if isinstance(check, ClusterAgrees):
            return self._cluster(check)
        return self._command(check)

    def _ping(self, check: NodePing) -> tuple[bool, str]:
        where = f"{check.node} ping"
        try:
            answer = self.http(check.address, check.port, f"{PING}?get_server_status=true", {})
            body = answer.json()
        except HttpError as exc:
            return False, f"{where}: {exc}"
        if not isinstance(body, dict):
            return False, f"{where}: HTTP {answer.status}, unexpected answer"
        statuses = {
            key: str(body.get(key, "missing")) for key in ("status", "database_status", "filestore_status")
        }
        version = _reported_version(answer, body)
        text = f"{where}: HTTP {answer.status}, " + ", ".join(f"{k} {v}" for k, v in statuses.items())
        text += f", version {version or '?'}"
        healthy = answer.status == 200 and all(v == OK for v in statuses.values())  # noqa: PLR2004 - HTTP OK
        return healthy and _same_version(version, check.version), text

    def _cluster(self, check: ClusterAgrees) -> tuple[bool, str]:
        members: list[dict[str, Any]] | None = None
        errors = []
        for target in check.ask:
            address, _, port = target.rpartition(":")
            try:
                answer = self.http(address, int(port), CLUSTER_STATUS, self._headers)
                body = answer.json()
            except HttpError as exc:
                errors.append(f"{target}: {exc}")
                continue
            if answer.status == 200 and isinstance(body, list):  # noqa: PLR2004 - HTTP OK
                members = [m for m in body if isinstance(m, dict)]
                break
            errors.append(f"{target}: HTTP {answer.status}")
        if members is None:
            return False, "cluster status: " + "; ".join(errors)
        found = {}
        for node in check.nodes:
            candidates = [
                m
                for m in members
                if str(m.get("hostname", "")) == node
                and m.get("is_alive")
                and _same_version(str(m.get("version", "")), check.version)
            ]
            if candidates:
                found[node] = candidates[-1]
        missing = [n for n in check.nodes if n not in found]
        hashes = {str(m.get("config_hash", "")) for m in found.values()}
        text = f"cluster status: {len(found)} of {len(check.nodes)} node(s) alive on {check.version}"
        if missing:
            text += f" (not yet: {', '.join(missing)})"
        if check.same_config:
            text += f", {len(hashes)} config hash(es)"
        return not missing and (not check.same_config or len(hashes) == 1), text

    def _command(self, check: CommandSucceeds) -> tuple[bool, str]:
        failing = []
        for host in check.hosts:
            outcome = self.shell.run(host, check.command, timeout=60)
            if not outcome.ok:
                said = outcome.err.strip()[:80]
                failing.append(f"{host} (exit {outcome.code}{': ' + said if said else ''})")
        if failing:
            return False, f"check failed on {', '.join(failing)}"
        return True, f"check passed on {', '.join(check.hosts)}"


def _reported_version(answer: Answer, body: dict[str, Any]) -> str:
    header = answer.headers.get("x-version-id", "")
    if header:
        return ".".join(header.split(".")[:3])
    return str(body.get("version", ""))


def _same_version(reported: str, wanted: str) -> bool:
    try:
        return Version.parse(reported) == Version.parse(wanted)
    except UpgradeRefusedError:  # an unparsable version is simply not the wanted one
        return False
