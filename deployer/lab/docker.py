"""A thin wrapper over the docker CLI that turns a missing client or daemon into advice."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from deployer.lab.errors import DockerUnavailableError, LabError

INSTALL_HINT = "install it with `apt-get install -y docker.io` (or run `make lab-prereqs`)"
START_HINT = (
    "start it with `setsid dockerd --host unix:///var/run/docker.sock "
    ">/var/log/dockerd.log 2>&1 &` (or run `make lab-prereqs`)"
)


@dataclass(frozen=True)
class DockerNetwork:
    """What the clash checks need to know about an existing Docker network."""

    name: str
    subnets: tuple[IPv4Network, ...]
    internal: bool
    labels: dict[str, str]


def docker(
    *args: str, input_text: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS`; a failure raises LabError carrying docker's own words."""
    try:
        result = subprocess.run(
            ["docker", *args],
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise DockerUnavailableError("the docker client is not installed", hint=INSTALL_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(
            f"`docker {' '.join(args[:3])}` did not answer within {timeout:.0f} s",
            hint="check the daemon with `docker info`; see /var/log/dockerd.log",
        ) from exc
    if result.returncode != 0 and _daemon_down(result.stderr):
        raise DockerUnavailableError("the Docker daemon is not running", hint=START_HINT)
    if check and result.returncode != 0:
        raise LabError(
            f"`docker {' '.join(args[:3])}` failed: {result.stderr.strip() or result.stdout.strip()}",
            hint="see the message above from docker",
        )
    return result


def _daemon_down(stderr: str) -> bool:
    return "Cannot connect to the Docker daemon" in stderr or "docker daemon running" in stderr


def require_docker() -> str:
    """Fail early, with the command that fixes it, when Docker cannot be used; returns its version."""
    result = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
    if result.returncode != 0:
        if "permission denied" in result.stderr.lower():
            raise DockerUnavailableError(
                "no permission to use the Docker daemon",
                hint="run as root (the lab also needs root to build its image)",
            )
        raise DockerUnavailableError(
            f"the Docker daemon does not answer: {result.stderr.strip()}", hint=START_HINT
        )
    return result.stdout.strip()


def inspect(kind: str, *names: str) -> list[dict[str, Any]]:
    """`docker KIND inspect NAMES` as parsed JSON; names that do not exist are left out."""
    if not names:
        return []
    result = docker(kind, "inspect", *names, check=False)
    text = result.stdout.strip()
    if not text:
        return []
    data: list[dict[str, Any]] = json.loads(text)
    return data


def ids(kind: str, label: str) -> list[str]:
    """Ids of every container, network or volume carrying `label` (key=value)."""
    if kind == "container":
        args = ["ps", "-a", "--filter", f"label={label}", "--format", "{{.ID}}"]
    elif kind == "network":
        args = ["network", "ls", "--filter", f"label={label}", "--format", "{{.ID}}"]
    else:
        args = ["volume", "ls", "--filter", f"label={label}", "--format", "{{.Name}}"]
    return docker(*args).stdout.split()


def networks() -> list[DockerNetwork]:
    """Every Docker network with its IPv4 subnets, for clash checks."""
    names = docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    found: list[DockerNetwork] = []
    for item in inspect("network", *names):
        subnets: list[IPv4Network] = []
        for config in (item.get("IPAM") or {}).get("Config") or []:
            subnet = config.get("Subnet", "")
            if subnet and ":" not in subnet:
                subnets.append(IPv4Network(subnet, strict=False))
        found.append(
            DockerNetwork(
                name=item["Name"],
                subnets=tuple(subnets),
                internal=bool(item.get("Internal")),
                labels=dict(item.get("Labels") or {}),
            )
        )
    return found


def image_exists(reference: str) -> bool:
    return docker("image", "inspect", reference, check=False).returncode == 0
