"""Bring a lab environment up, take it down and report its state: the lab's three verbs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from deployer.lab import docker as dk
from deployer.lab import hosts as lab_hosts
from deployer.lab.errors import LabClashError
from deployer.lab.image import ensure_image
from deployer.lab.plan import (
    LABEL_ENV,
    LABEL_SOURCE,
    LabHost,
    LabPlan,
    Occupant,
    check_inotify,
    env_label,
    network_name,
    parse_proc_routes,
    plan_for,
    rehearsal_plan,
    subnet_clash,
)
from deployer.lab.ssh import ensure_keypair, ssh_files, write_known_hosts, write_ssh_config
from deployer.lab.state import forget, load_plan, save_plan
from deployer.topology import Environment

Progress = Callable[[str], None]
T = TypeVar("T")
R = TypeVar("R")
# Docker serialises much of its work anyway; a few workers hide the latency of each call.
WORKERS = 6


def _quiet(_: str) -> None:
    return None


@dataclass
class UpResult:
    plan: LabPlan
    image: str
    actions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def up(environment: Environment, rehearse: bool = False, progress: Progress = _quiet) -> UpResult:
    """Create or repair every host of an environment and return once each answers verified SSH."""
    started = time.monotonic()
    dk.require_docker()
    topology = environment.topology
    occupants = _occupants()
    source = str(environment.topology_file.resolve())
    own = next((o for o in occupants if o.what == f"Docker network {network_name(topology.name)}"), None)
    if rehearse:
        taken = [o.subnet for o in occupants if o.env != topology.name]
        current = own.subnet if own and own.env == topology.name else None
        plan = rehearsal_plan(topology, taken, current, source)
    else:
        plan = plan_for(topology, source)
    subnet_clash(plan, occupants)
    _check_capacity(plan)
    image = ensure_image(progress)
    files = ensure_keypair(plan.env)
    public_key = files.public_key.read_text(encoding="utf-8")
    save_plan(plan)
    _ensure_network(plan, source)
    progress(f"lab {plan.env}: {len(plan.hosts)} hosts on {plan.network} ({plan.subnet}, internal)")

    result = UpResult(plan=plan, image=image)

    def bring_up(host: LabHost) -> str:
        action = lab_hosts.ensure_running(plan, host, image)
        result.actions[host.name] = action
        return lab_hosts.prepare(host, public_key)

    known = _parallel(bring_up, plan.hosts)
    write_known_hosts(plan.env, known)
    write_ssh_config(plan)

    def verify(host: LabHost) -> None:
        lab_hosts.verify_ssh(plan, host)
        progress(
            f"  {host.name:<14} {host.address!s:<15} {result.actions[host.name]:<12} "
            f"ssh verified ({time.monotonic() - started:.1f} s)"
        )

    _parallel(verify, plan.hosts)
    result.seconds = time.monotonic() - started
    return result


def down(env: str, progress: Progress = _quiet) -> dict[str, int]:
    """Remove the containers, volumes and network labelled with `env`, and nothing else."""
    dk.require_docker()
    label = env_label(env)
    containers = dk.ids("container", label)
    if containers:
        dk.docker("rm", "--force", "--volumes", *containers)
    volumes = dk.ids("volume", label)
    if volumes:
        dk.docker("volume", "rm", "--force", *volumes)
    networks = dk.ids("network", label)
    if networks:
        dk.docker("network", "rm", *networks)
    forget(env)
    removed = {"containers": len(containers), "volumes": len(volumes), "networks": len(networks)}
    progress(f"lab {env}: removed " + ", ".join(_count(n, kind) for kind, n in removed.items()))
    return removed


class HostStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    address: str
    roles: list[str]
    zone: str
    container: str
    state: str
    real_address: str | None = None


class LabStatus(BaseModel):
    """What `lab status` reports, also as JSON for scripts."""

    model_config = ConfigDict(frozen=True)

    env: str
    network: str
    subnet: str
    internal: bool | None
    rehearsal: bool
    known_hosts: str
    ssh_config: str
    private_key: str
    hosts: list[HostStatus]

    @property
    def running(self) -> int:
        return sum(1 for h in self.hosts if h.state == "running")


def status(env: str) -> LabStatus:
    plan = load_plan(env)
    dk.require_docker()
    found = dk.inspect("network", plan.network)
    internal = bool(found[0].get("Internal")) if found else None
    files = ssh_files(env)
    data = {c["Name"].lstrip("/"): c for c in dk.inspect("container", *(h.container for h in plan.hosts))}
    rows = []
    for host in plan.hosts:
        raw = data.get(host.container)
        state = lab_hosts.state_from_inspect(plan, raw) if raw else lab_hosts.ContainerState(exists=False)
        rows.append(
            HostStatus(
                name=host.name,
                address=str(host.address),
                roles=[str(r) for r in host.roles],
                zone=host.zone,
                container=host.container,
                state=state.state,
                real_address=str(host.real_address) if host.real_address else None,
            )
        )
    return LabStatus(
        env=env,
        network=plan.network,
        subnet=str(plan.subnet),
        internal=internal,
        rehearsal=plan.rehearsal,
        known_hosts=str(files.known_hosts),
        ssh_config=str(files.ssh_config),
        private_key=str(files.private_key),
        hosts=rows,
    )


def _check_capacity(plan: LabPlan) -> None:
    limit_file = Path("/proc/sys/fs/inotify/max_user_instances")
    if not limit_file.is_file():
        return
    own = set(dk.ids("container", env_label(plan.env)))
    others = [cid for cid in dk.ids("container", LABEL_ENV) if cid not in own]
    check_inotify(int(limit_file.read_text(encoding="utf-8")), len(others) + len(plan.hosts))


def _count(number: int, plural: str) -> str:
    return f"{number} {plural if number != 1 else plural.removesuffix('s')}"


def _ensure_network(plan: LabPlan, source: str) -> None:
    found = dk.inspect("network", plan.network)
    if found:
        labels = found[0].get("Labels") or {}
        if labels.get(LABEL_ENV) != plan.env:
            raise LabClashError(
                f"a Docker network named {plan.network} exists but the lab did not make it for '{plan.env}'",
                hint=f"remove it (`docker network rm {plan.network}`) or rename the environment",
            )
        if not found[0].get("Internal"):
            raise LabClashError(
                f"Docker network {plan.network} is not internal: its hosts could reach outside",
                hint=f"recreate it: `deployer lab down -e {plan.env}` then `lab up`",
            )
        return
    dk.docker(
        "network",
        "create",
        "--internal",
        "--driver",
        "bridge",
        "--subnet",
        str(plan.subnet),
        "--gateway",
        str(plan.gateway),
        "--label",
        env_label(plan.env),
        "--label",
        f"{LABEL_SOURCE}={source}",
        plan.network,
    )


def _occupants() -> list[Occupant]:
    """Every subnet already in use on this machine: Docker networks and the machine's routes."""
    found: list[Occupant] = []
    bridged: set[IPv4Network] = set()
    for net in dk.networks():
        for subnet in net.subnets:
            found.append(Occupant(f"Docker network {net.name}", subnet, net.labels.get(LABEL_ENV)))
            bridged.add(subnet)
    routes = Path("/proc/net/route")
    if routes.is_file():
        for device, network in parse_proc_routes(routes.read_text(encoding="utf-8")):
            # A Docker bridge's route is the network itself, already listed above.
            if network not in bridged:
                found.append(Occupant(f"this machine's route via {device}", network))
    return found


def _parallel(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """Run `func` over `items` a few at a time; the first failure is raised after all finish."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(func, item) for item in items]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return [f.result() for f in futures]
