"""The data every health check produces: one result per target, grouped per check into a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # still healthy, but someone should look (exit 4 when nothing failed)
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Result:
    """What one check found about one target (a node, the VIP, the database cluster, ...)."""

    target: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, target: str, summary: str, **details: Any) -> Result:  # noqa: ANN401 - JSON details
        return cls(target, Status.OK, summary, details)

    @classmethod
    def warn(cls, target: str, summary: str, **details: Any) -> Result:  # noqa: ANN401 - JSON details
        return cls(target, Status.WARN, summary, details)

    @classmethod
    def fail(cls, target: str, summary: str, **details: Any) -> Result:  # noqa: ANN401 - JSON details
        return cls(target, Status.FAIL, summary, details)

    @classmethod
    def skip(cls, target: str, summary: str) -> Result:
        return cls(target, Status.SKIP, summary)


@dataclass(frozen=True)
class CheckReport:
    """One check's results and how long it took."""

    name: str
    title: str
    results: list[Result]
    elapsed: float

    @property
    def status(self) -> Status:
        if any(r.status is Status.FAIL for r in self.results):
            return Status.FAIL
        if any(r.status is Status.WARN for r in self.results):
            return Status.WARN
        if self.results and all(r.status is Status.SKIP for r in self.results):
            return Status.SKIP
        return Status.OK


@dataclass(frozen=True)
class HealthReport:
    """Every check of one run; healthy when no result failed."""

    environment: str
    checks: list[CheckReport]
    elapsed: float

    @property
    def healthy(self) -> bool:
        """Nothing failed; warnings do not make an environment unhealthy."""
        return all(c.status is not Status.FAIL for c in self.checks)

    @property
    def status(self) -> Status:
        """The worst check: FAIL, else WARN, else OK (skipped checks count as OK)."""
        statuses = {c.status for c in self.checks}
        for worst in (Status.FAIL, Status.WARN):
            if worst in statuses:
                return worst
        return Status.OK

    @property
    def warning(self) -> list[CheckReport]:
        return [c for c in self.checks if c.status is Status.WARN]

    @property
    def failing(self) -> list[CheckReport]:
        return [c for c in self.checks if c.status is Status.FAIL]
