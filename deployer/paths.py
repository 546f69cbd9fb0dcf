"""Where the deployer finds its roles, inventories and packaged data, installed or from a checkout."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent


def roles_dir() -> Path:
    """Roles travel inside the wheel (deployer/_ansible/roles); in a checkout they sit at the top."""
    packaged = PACKAGE_DIR / "_ansible" / "roles"
    return packaged if packaged.is_dir() else _CHECKOUT / "roles"


def inventory_dirs() -> list[Path]:
    """Folders searched for `-e NAME`, first match wins."""
    found: list[Path] = []
    env = os.environ.get("DEPLOYER_INVENTORIES")
    if env:
        found.append(Path(env))
    found.append(Path.cwd() / "inventories")
    if (_CHECKOUT / "pyproject.toml").is_file():
        found.append(_CHECKOUT / "inventories")
    unique: list[Path] = []
    for path in found:
        if path.resolve() not in [p.resolve() for p in unique]:
            unique.append(path)
    return unique


def schema_file() -> Path:
    return PACKAGE_DIR / "schema" / "topology.schema.json"


def state_dir() -> Path:
    """Per-user state (lab keys, logs) that must never land in the repository."""
    base = os.environ.get("DEPLOYER_STATE_DIR")
    return Path(base) if base else Path.home() / ".local" / "state" / "deployer"
