"""Our own policies for rendered manifests: what a cluster admin checks before signing off."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from deployer.checks.findings import Severity
from deployer.kube.findings import ManifestFinding
from deployer.kube.images import ImageRef, ImageReferenceError
from deployer.kube.manifest import Manifest, containers, image_slots, pod_spec

HOSTNAME_KEY = "kubernetes.io/hostname"
_SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|DATASOURCE|ACCESSKEY|LICENSE|^MM_CONFIG$")
_VAR_ONLY = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_]*\))+$")
_DSN_CREDENTIALS = re.compile(r"://(?P<user>[^:@/]*):(?P<password>[^@]*)@")


@dataclass(frozen=True)
class Policy:
    id: str
    severity: Severity
    why: str
    check: Callable[[Manifest, list[Manifest], str], Iterator[str]]


POLICIES: list[Policy] = []


def policy(
    rule_id: str, severity: Severity, why: str
) -> Callable[
    [Callable[[Manifest, list[Manifest], str], Iterator[str]]],
    Callable[[Manifest, list[Manifest], str], Iterator[str]],
]:
    def register(
        check: Callable[[Manifest, list[Manifest], str], Iterator[str]],
    ) -> Callable[[Manifest, list[Manifest], str], Iterator[str]]:
        POLICIES.append(Policy(rule_id, severity, why, check))
        return check

    return register


def _replicated(m: Manifest) -> bool:
    return m.kind in {"Deployment", "StatefulSet"} and pod_spec(m.doc) is not None


def _pod_labels(m: Manifest) -> dict[str, Any]:
    template = (m.doc.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


@policy("kube.anti-affinity", Severity.ERROR, "two replicas on one node fall together")
def _anti_affinity(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    if not _replicated(m):
        return
    spec = pod_spec(m.doc) or {}
    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    if not any(t.get("topologyKey") == HOSTNAME_KEY for t in terms):
        yield (
            "no required podAntiAffinity on kubernetes.io/hostname: two replicas may land on "
            "one node and fall together"
        )
    spreads = spec.get("topologySpreadConstraints") or []
    if not any(s.get("topologyKey") == "topology.kubernetes.io/zone" for s in spreads):
        yield "no topologySpreadConstraints on topology.kubernetes.io/zone: one zone may hold all replicas"


@policy("kube.pdb", Severity.ERROR, "a node drain must not take every replica at once")
def _pdb(m: Manifest, everything: list[Manifest], _registry: str) -> Iterator[str]:
    if not _replicated(m):
        return
    labels = _pod_labels(m)
    for other in everything:
        if other.kind != "PodDisruptionBudget":
            continue
        wanted = ((other.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if wanted and all(labels.get(k) == v for k, v in wanted.items()):
            return
    yield "no PodDisruptionBudget selects its pods: a node drain may evict every replica at once"


@policy("kube.probes", Severity.ERROR, "Kubernetes routes to and restarts pods by their probes")
def _probes(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    for key, container in containers(m.doc):
        if key != "containers":
            continue
        missing = [p for p in ("startupProbe", "readinessProbe", "livenessProbe") if p not in container]
        if missing:
            yield f"container '{container.get('name')}' has no {', '.join(missing)}"


@policy("kube.resources", Severity.ERROR, "unsized pods starve their neighbours or get evicted first")
def _resources(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    for _key, container in containers(m.doc):
        res = container.get("resources") or {}
        missing = [
            f"{kind}.{what}"
            for kind in ("requests", "limits")
            for what in ("cpu", "memory")
            if not (res.get(kind) or {}).get(what)
        ]
        if missing:
            yield f"container '{container.get('name')}' sets no resources {', '.join(missing)}"


def _parsed_images(m: Manifest) -> Iterator[tuple[str, str, ImageRef | None]]:
    for slot in image_slots(m.doc):
        try:
            yield slot.where, slot.image, ImageRef.parse(slot.image)
        except ImageReferenceError:
            yield slot.where, slot.image, None


@policy("kube.image-tag", Severity.ERROR, "'latest' names a different image every week")
def _no_latest(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    for where, image, ref in _parsed_images(m):
        if ref is None:
            yield f"{where}: '{image}' is not an image reference"
        elif ref.tag == "latest" or (ref.tag is None and ref.digest is None):
            yield f"{where}: image '{image}' uses the 'latest' tag; pin a release tag and digest"


@policy("kube.image-digest", Severity.ERROR, "only a digest names exactly the image that was tested")
def _digest(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    for where, image, ref in _parsed_images(m):
        if ref is not None and not ref.pinned:
            yield f"{where}: image '{image}' is not pinned by digest (@sha256:...)"


@policy("kube.image-registry", Severity.ERROR, "an air-gapped cluster pulls only from the site registry")
def _registry(m: Manifest, _all: list[Manifest], registry: str) -> Iterator[str]:
    for where, image, ref in _parsed_images(m):
        if ref is not None and ref.registry != registry.rstrip("/"):
            yield f"{where}: image '{image}' is not in the site registry {registry}"


@policy("kube.privileged", Severity.ERROR, "a privileged container owns its node")
def _privileged(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    spec = pod_spec(m.doc) or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            yield f"pod spec sets {flag}: true"
    for _key, container in containers(m.doc):
        ctx = container.get("securityContext") or {}
        name = container.get("name")
        if ctx.get("privileged"):
            yield f"container '{name}' is privileged"
        if ctx.get("allowPrivilegeEscalation", True):
            yield f"container '{name}' does not set allowPrivilegeEscalation: false"


@policy("kube.no-inline-secret", Severity.ERROR, "manifests are reviewed and stored; secrets are not")
def _no_inline_secret(m: Manifest, _all: list[Manifest], _registry: str) -> Iterator[str]:
    if m.kind == "Secret" and (m.doc.get("data") or m.doc.get("stringData")):
        yield "a Secret with data is rendered; create it out of band and reference it by name"
    if m.kind == "ConfigMap":
        for key, value in sorted((m.doc.get("data") or {}).items()):
            if _SENSITIVE.search(key) and value:
                yield f"ConfigMap key {key} looks like a credential; move it to a Secret"
    for _key, container in containers(m.doc):
        for entry in container.get("env") or []:
            name, value = str(entry.get("name", "")), entry.get("value")
            if value and _SENSITIVE.search(name) and not _only_references(str(value)):
                yield (
                    f"container '{container.get('name')}' env {name} carries a literal value; "
                    "take it from a Secret (valueFrom.secretKeyRef)"
                )


def _only_references(value: str) -> bool:
    """True when the value holds no credential of its own, only $(VAR) references."""
    if _VAR_ONLY.match(value):
        return True
    match = _DSN_CREDENTIALS.search(value)
    if match is None:
        return "://" in value  # a DSN without credentials in it
    return all(_VAR_ONLY.match(part) for part in (match["user"], match["password"]))


def check_policies(manifests: list[Manifest], registry: str) -> list[ManifestFinding]:
    findings: list[ManifestFinding] = []
    for manifest in manifests:
        for pol in POLICIES:
            findings.extend(
                ManifestFinding(manifest.file, manifest.resource, pol.id, pol.severity, message)
                for message in pol.check(manifest, manifests, registry)
            )
    return findings
