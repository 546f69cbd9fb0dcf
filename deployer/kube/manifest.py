"""One rendered Kubernetes resource, and where its pod spec and images sit inside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Manifest:
    """A parsed resource with the file it is written to and the template it came from."""

    file: str
    template: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.doc.get("metadata", {}).get("name", ""))

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion", ""))

    @property
    def resource(self) -> str:
        """Kind/name, as people say it."""
        return f"{self.kind}/{self.name}"


def file_name(doc: dict[str, Any]) -> str:
    """deployment-mattermost.yaml: the kind and name make a file name unique in a namespace."""
    kind = str(doc.get("kind", "unknown")).lower()
    name = str(doc.get("metadata", {}).get("name", "unnamed"))
    return f"{kind}-{name}.yaml"


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload, a CronJob or a Pod; None for everything else."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec if isinstance(spec, dict) else None
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return ((spec.get("template") or {}).get("spec")) or None
    if kind in WORKLOAD_KINDS:
        return ((spec.get("template") or {}).get("spec")) or None
    return None


def containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(list name, container) for every container of the resource's pod spec."""
    spec = pod_spec(doc)
    if spec is None:
        return
    for key in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            yield key, container


@dataclass(frozen=True)
class ImageSlot:
    """Where an image reference lives: the mapping and key holding it, and a label for messages."""

    holder: dict[str, Any]
    key: str
    where: str

    @property
    def image(self) -> str:
        return str(self.holder[self.key])


def image_slots(doc: dict[str, Any]) -> Iterator[ImageSlot]:
    """Every image reference in a resource: containers, and CloudNativePG's imageName."""
    for key, container in containers(doc):
        if "image" in container:
            yield ImageSlot(container, "image", f"{key}[{container.get('name', '?')}]")
    spec = doc.get("spec")
    if doc.get("kind") == "Cluster" and isinstance(spec, dict) and "imageName" in spec:
        yield ImageSlot(spec, "imageName", "spec.imageName")
