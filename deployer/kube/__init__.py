"""The Kubernetes target: chart values from the topology, rendering, checks, images, apply and health."""

from __future__ import annotations

from pathlib import Path

from deployer.kube.findings import ManifestCheckError, ManifestFinding, raise_for_errors
from deployer.kube.manifest import Manifest
from deployer.kube.policy import check_policies
from deployer.kube.render import render_manifests, write_manifests
from deployer.kube.schema import validate_manifests
from deployer.kube.values import kube_section
from deployer.topology.load import Environment

__all__ = [
    "ManifestCheckError",
    "ManifestFinding",
    "check_kubernetes",
    "check_manifests",
    "render_kubernetes",
]


def check_manifests(manifests: list[Manifest], env: Environment) -> list[ManifestFinding]:
    """Offline schema validation for the topology's Kubernetes version, then our policies."""
    kube = kube_section(env.topology)
    findings = validate_manifests(manifests, kube.version)
    findings.extend(check_policies(manifests, kube.registry))
    return sorted(findings)


def check_kubernetes(env: Environment) -> list[ManifestFinding]:
    """Render in memory and return every finding; `deployer validate` prints them."""
    return check_manifests(render_manifests(env), env)


def render_kubernetes(env: Environment, out_dir: Path) -> list[Path]:
    """Render, write one file per resource into `out_dir` (which it owns), then check.

    Files are written even when a check fails, so the user can read what was rejected;
    an error-level finding then raises ManifestCheckError (exit 3).
    """
    manifests = render_manifests(env)
    written = write_manifests(manifests, out_dir)
    raise_for_errors(check_manifests(manifests, env))
    return written
