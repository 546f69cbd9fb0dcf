"""What the manifest checks report, and the error that stops a render when they fail."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.checks.findings import Severity
from deployer.errors import CheckFailedError, DeployerError


@dataclass(frozen=True, order=True)
class ManifestFinding:
    """One problem in one rendered manifest: which rule, how bad, which file and resource."""

    file: str
    resource: str
    rule: str
    severity: Severity
    message: str

    def render(self) -> str:
        return f"{self.file}: {self.resource}: [{self.rule}] {self.message}"


class ManifestCheckError(CheckFailedError):
    """Rendered manifests break the Kubernetes schemas or our policies (exit 3)."""

    def __init__(self, findings: list[ManifestFinding]) -> None:
        self.findings = sorted(findings)
        count = len(self.findings)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{count} {noun} in the rendered Kubernetes manifests",
            hint="fix the chart (charts/mattermost-ha) or the topology's kubernetes section",
        )

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines.extend(f"  {f.severity}: {f.render()}" for f in self.findings)
        lines.append(f"  what to do: {self.hint}")
        return "\n".join(lines)


class KubernetesSetupError(DeployerError):
    """The topology lacks something the Kubernetes target needs."""


def raise_for_errors(findings: list[ManifestFinding]) -> None:
    """Raise ManifestCheckError when any finding is an error; warnings pass."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise ManifestCheckError(errors)
