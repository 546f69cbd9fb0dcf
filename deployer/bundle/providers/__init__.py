"""Artifact providers: each one fetches one kind of content into the bundle; add one to extend it.

A provider is a class with `name`, `applies(plan)` and `collect(ctx)` returning `Staged` files,
appended in `default_providers()`. VM environments get the OS packages, SeaweedFS and the
Mattermost tarball; kubernetes environments get the chart package and image archives instead;
both get the deployer's wheels, so the deployer itself installs offline on the bastion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from deployer.bundle.content import BundlePlan
from deployer.bundle.manifest import FileEntry, Kind
from deployer.bundle.progress import Reporter
from deployer.bundle.verify import file_digest
from deployer.topology import Environment


@dataclass(frozen=True)
class Staged:
    """A file for the bundle: its manifest entry and where its bytes are on this machine."""

    entry: FileEntry
    source: Path


@dataclass(frozen=True)
class BuildContext:
    plan: BundlePlan
    cache: Path
    work: Path
    reporter: Reporter
    epoch: int
    repo_secret_key: bytes | None = None
    repo_public_key: bytes | None = None
    mattermost_tarball: str | None = None
    refresh: bool = False
    # The environment the plan was made from (the kubernetes provider renders its manifests).
    environment: Environment | None = None
    # An OCI layout folder holding the images; None: export them from the local Docker daemon.
    image_layout: Path | None = None


class ArtifactProvider(Protocol):
    name: str

    def applies(self, plan: BundlePlan) -> bool: ...

    def collect(self, ctx: BuildContext) -> list[Staged]: ...


def stage(source: Path, path: str, *, kind: Kind, name: str, version: str, origin: str) -> Staged:
    digest, size = file_digest(source)
    entry = FileEntry(
        path=path, kind=kind, name=name, version=version, size=size, sha256=digest, origin=origin
    )
    return Staged(entry, source)


def default_providers() -> list[ArtifactProvider]:
    """Every provider; each one's `applies(plan)` decides whether it runs for an environment."""
    from deployer.bundle.providers.apt import AptRepositoryProvider  # noqa: PLC0415
    from deployer.bundle.providers.kube import KubernetesProvider  # noqa: PLC0415
    from deployer.bundle.providers.mattermost import MattermostProvider  # noqa: PLC0415
    from deployer.bundle.providers.seaweedfs import SeaweedfsProvider  # noqa: PLC0415
    from deployer.bundle.providers.wheels import WheelsProvider  # noqa: PLC0415

    return [
        AptRepositoryProvider(),
        WheelsProvider(),
        SeaweedfsProvider(),
        MattermostProvider(),
        KubernetesProvider(),
    ]
