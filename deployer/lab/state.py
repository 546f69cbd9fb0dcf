"""Where each lab environment keeps its plan, keys and known hosts: under the per-user state folder."""

from __future__ import annotations

import os
from pathlib import Path

from deployer import paths
from deployer.lab.errors import LabNotUpError
from deployer.lab.plan import LabPlan

PLAN_FILE = "plan.json"


def lab_root() -> Path:
    return paths.state_dir() / "lab"


def env_dir(env: str) -> Path:
    return lab_root() / env


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file that only its owner may read, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def save_plan(plan: LabPlan) -> Path:
    path = env_dir(plan.env) / PLAN_FILE
    write_private(path, plan.model_dump_json(indent=2) + "\n", 0o644)
    return path


def load_plan(env: str) -> LabPlan:
    """The plan the last `lab up` of `env` used; other commands must see the same addresses."""
    path = env_dir(env) / PLAN_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LabNotUpError(
            f"lab environment '{env}' is not up (no {path})",
            hint=f"bring it up with `deployer lab up -e {env}`",
        ) from exc
    return LabPlan.model_validate_json(text)


def forget(env: str) -> None:
    """Drop the plan, known hosts and config; keep the key pair so a new `up` reuses it."""
    for name in (PLAN_FILE, "known_hosts", "ssh_config"):
        (env_dir(env) / name).unlink(missing_ok=True)
