"""Reads the one file of pinned versions that the roles and the bundle builder share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from deployer import paths
from deployer.errors import DeployerError

DEFAULTS_FILE = ("deployer_defaults", "defaults", "main.yml")


@dataclass(frozen=True)
class Pins:
    os_release: str
    os_packages: dict[str, list[str]]
    artifacts: dict[str, dict[str, Any]]
    versions: dict[str, Any]


def load_pins() -> Pins:
    path = paths.roles_dir().joinpath(*DEFAULTS_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeployerError(
            f"cannot read the pinned versions in {path}: {exc}",
            hint="reinstall the deployer; this file ships with it",
        ) from exc
    return Pins(
        os_release=data["deployer_os_release"],
        os_packages={k: list(v or []) for k, v in data["deployer_os_packages"].items()},
        artifacts=dict(data["deployer_artifacts"]),
        versions=dict(data["deployer_versions"]),
    )
