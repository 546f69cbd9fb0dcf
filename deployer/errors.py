"""Exit codes and the named errors a user can act on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, the same scheme as troubleshoot's preflights."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    CHECK_FAILED = 3
    WARNINGS = 4


class DeployerError(Exception):
    """A mistake or condition the user can act on; shown without a traceback."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text


class EnvironmentNotFoundError(DeployerError):
    """`-e NAME` or `-i PATH` does not lead to a topology file."""


class CheckFailedError(DeployerError):
    """A check ran and the thing it checked is not right."""

    exit_code = ExitCode.CHECK_FAILED


@dataclass(frozen=True)
class SourceProblem:
    """One problem in a topology file, located as precisely as the file allows."""

    file: str
    line: int
    column: int
    key_path: str
    message: str
    hint: str = ""

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        key = f" {self.key_path}:" if self.key_path else ""
        text = f"{where}:{key} {self.message}"
        if self.hint:
            text += f"\n    {self.hint}"
        return text


class TopologyError(DeployerError):
    """The topology file cannot be loaded: every problem found, not just the first."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        file = problems[0].file if problems else "topology"
        super().__init__(f"{file}: {count} {noun} in the topology")

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines.extend(f"  {p.render()}" for p in self.problems)
        lines.append(
            "  what to do: fix the keys above; the JSON Schema is deployer/schema/topology.schema.json"
        )
        return "\n".join(lines)
