"""Finds the target release tarball in the verified bundle's manifest, or says which bundle to build."""

from __future__ import annotations

from deployer.bundle.manifest import Kind, Manifest
from deployer.upgrade.errors import TargetNotInBundleError
from deployer.upgrade.planner import Tarball

FILE_PATTERN = "mattermost-{version}-linux-amd64.tar.gz"


def find_tarball(manifest: Manifest, environment: str, target: str) -> Tarball:
    file_name = FILE_PATTERN.format(version=target)
    for entry in manifest.files:
        if (
            entry.kind is Kind.RELEASE_TARBALL
            and entry.version == target
            and entry.path.endswith(f"/{file_name}")
        ):
            return Tarball(path=entry.path, sha256=entry.sha256, size=entry.size)
    present = sorted(f"{e.version}" for e in manifest.files if e.kind is Kind.RELEASE_TARBALL)
    raise TargetNotInBundleError(
        f"the verified bundle of {environment} holds Mattermost {', '.join(present) or 'no release'}, "
        f"not {target}",
        hint=f"set mattermost.version: {target} in the topology, then build the bundle with "
        f"`deployer bundle build -e {environment} --mattermost-tarball {file_name}` and bring it over",
    )
