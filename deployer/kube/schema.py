"""Validates rendered manifests offline against the Kubernetes schemas of the target version (strict)."""

from __future__ import annotations

from typing import Any

from deployer.checks.findings import Severity
from deployer.kube.findings import KubernetesSetupError, ManifestFinding
from deployer.kube.manifest import Manifest

RULE = "kube.schema"


def _kv() -> Any:  # noqa: ANN401 - an untyped library
    import kubernetes_validate.utils as kv  # noqa: PLC0415 - loaded on use

    return kv


def supported_versions() -> list[str]:
    kv = _kv()
    return sorted({".".join(v.split(".")[:2]) for v in kv.all_versions()}, key=_minor)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def validate_manifests(manifests: list[Manifest], version: str) -> list[ManifestFinding]:
    """Strict schema validation: unknown fields are errors, as the API server would reject them."""
    kv = _kv()
    known = supported_versions()
    if version not in known:
        raise KubernetesSetupError(
            f"no offline Kubernetes schemas for version {version}",
            hint=f"kubernetes.version must be one of {', '.join(known)}",
        )
    findings: list[ManifestFinding] = []
    for manifest in manifests:
        try:
            kv.validate(manifest.doc, version, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top level)"
            findings.append(
                ManifestFinding(
                    manifest.file,
                    manifest.resource,
                    RULE,
                    Severity.ERROR,
                    f"{where}: {exc.message} (Kubernetes {exc.version} schema)",
                )
            )
        except kv.SchemaNotFoundError:
            # Custom resources (ServiceMonitor, CloudNativePG Cluster) have no built-in schema.
            findings.append(
                ManifestFinding(
                    manifest.file,
                    manifest.resource,
                    "kube.schema-custom-resource",
                    Severity.WARNING,
                    f"{manifest.api_version} {manifest.kind} is a custom resource with no offline "
                    "schema; only the policy checks looked at it",
                )
            )
    return findings
