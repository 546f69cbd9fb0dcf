"""The named errors of the bundle commands, each mapped to a documented exit code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deployer.errors import DeployerError, ExitCode


class BundleError(DeployerError):
    """A bundle cannot be built, read or unpacked because of something the user can fix."""


class BundleInputError(BundleError):
    """A file, key, size or option given to a bundle command is missing or malformed."""


class BundleToolError(BundleError):
    """An external tool the builder relies on (docker, gpg, pip, debootstrap) failed."""

    exit_code = ExitCode.INTERNAL


class ProblemKind(StrEnum):
    MISSING = "missing"
    EXTRA = "extra"
    MODIFIED = "modified"
    TRUNCATED = "truncated"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class FileProblem:
    """One file of a bundle that does not match its signed manifest."""

    kind: ProblemKind
    path: str
    detail: str = ""

    def render(self) -> str:
        return f"{self.kind.value:<9} {self.path}" + (f"  ({self.detail})" if self.detail else "")


class BundleVerificationError(BundleError):
    """The bundle is not exactly what its trusted signer made: never use a byte of it."""

    exit_code = ExitCode.CHECK_FAILED

    def __init__(self, message: str, *, problems: list[FileProblem] | None = None, hint: str = "") -> None:
        self.problems = problems or []
        super().__init__(
            message,
            hint=hint or "do not use this bundle; carry a fresh copy over the gap and verify again",
        )

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines.extend(f"  {p.render()}" for p in self.problems)
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        return "\n".join(lines)


class BundleSignatureError(BundleVerificationError):
    """The manifest signature is missing, malformed or made with a key that is not trusted."""
