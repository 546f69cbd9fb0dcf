"""What a check reports: a rule, how bad, where in the topology, and whether its risk is accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from deployer.errors import ExitCode
from deployer.topology.source import KeyPath


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    path: KeyPath = ()
    accepted_reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.accepted_reason is not None


@dataclass
class CheckReport:
    """Every finding for one environment, in a stable order."""

    environment: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR and not f.accepted]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING and not f.accepted]

    @property
    def accepted(self) -> list[Finding]:
        return [f for f in self.findings if f.accepted]

    @property
    def exit_code(self) -> ExitCode:
        if self.errors:
            return ExitCode.CHECK_FAILED
        if self.warnings:
            return ExitCode.WARNINGS
        return ExitCode.OK
