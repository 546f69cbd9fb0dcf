"""Detectors: has the cluster noticed the fault yet (new leader, VIP moved, backend marked down)?"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deployer.drill.scenarios import Plan
from deployer.health.datachecks import LEADER_ROLES, fetch_json, haproxy_backends
from deployer.health.hostchecks import Shell
from deployer.health.http import HttpError
from deployer.health.readiness import LiveState
from deployer.health.targets import PATRONI_API_PORT
from deployer.render.ansible import PORTS
from deployer.topology.model import Host, Role, Topology

Detector = Callable[[], bool]
POLL_TIMEOUT = 1.0


@dataclass
class PatroniLeaderChanged:
    """A surviving member reports a running leader other than the old one."""

    survivors: Sequence[Host]
    old: str

    def __call__(self) -> bool:
        for host in self.survivors:
            try:
                cluster = fetch_json(str(host.address), PATRONI_API_PORT, "/cluster", POLL_TIMEOUT)
            except HttpError:
                continue
            for member in cluster.get("members", []):
                if member.get("role") in LEADER_ROLES and member.get("name") != self.old:
                    return bool(member.get("state") == "running")
        return False


@dataclass
class PatroniMemberGone:
    """A surviving member reports the victim absent or no longer replicating."""

    survivors: Sequence[Host]
    victim: str

    def __call__(self) -> bool:
        for host in self.survivors:
            try:
                cluster = fetch_json(str(host.address), PATRONI_API_PORT, "/cluster", POLL_TIMEOUT)
            except HttpError:
                continue
            states = {m.get("name"): m.get("state") for m in cluster.get("members", [])}
            return states.get(self.victim) not in {"running", "streaming"}
        return False


@dataclass
class BackendDown:
    """A surviving load balancer's HAProxy marks the victim's server in `proxy` as not UP."""

    balancers: Sequence[Host]
    proxy: str
    server: str

    def __call__(self) -> bool:
        for host in self.balancers:
            try:
                text = fetch_json(str(host.address), PORTS["haproxy_stats"], "/stats;csv", POLL_TIMEOUT)
            except HttpError:
                continue
            state = haproxy_backends(str(text)).get(self.proxy, {}).get(self.server, "")
            if state and not state.startswith("UP"):
                return True
        return False


@dataclass
class VipMoved:
    """Another load balancer holds the VIP now (keepalived took over)."""

    shell: Shell
    others: Sequence[Host]
    vip: str

    def __call__(self) -> bool:
        for host in self.others:
            try:
                status, out, _ = self.shell.run(host, "ip -o -4 addr show", POLL_TIMEOUT * 2)
            except Exception:  # noqa: BLE001 - any SSH trouble means "not this one, not yet"
                status, out = 1, ""
            if status == 0 and f" {self.vip}/" in out:
                return True
        return False


@dataclass
class PortClosed:
    """The victim's service port no longer accepts connections: the fault took effect."""

    address: str
    port: int

    def __call__(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=POLL_TIMEOUT):
                return False
        except OSError:
            return True


@dataclass
class AnyOf:
    detectors: Sequence[Detector]

    def __call__(self) -> bool:
        return any(d() for d in self.detectors)


def detector_for(plan: Plan, topology: Topology, live: LiveState, shell: Shell) -> Detector:
    """How to notice that the cluster reacted to this scenario's fault."""
    victims = set(plan.victims)

    def alive(role: Role) -> list[Host]:
        return [h for h in topology.with_role(role) if h.name not in victims]

    balancers = alive(Role.LOADBALANCER)
    vip = str(topology.loadbalancer.vip or "")
    found: list[Detector] = []
    if live.leader in victims:
        found.append(PatroniLeaderChanged(alive(Role.DATABASE), str(live.leader)))
    if live.vip_holder in victims and vip:
        found.append(VipMoved(shell, balancers, vip))
    for host in (h for h in topology.hosts if h.name in victims):
        found.extend(_role_detectors(host, balancers, alive(Role.DATABASE), live))
    return AnyOf(found)


def _role_detectors(
    host: Host, balancers: list[Host], databases: list[Host], live: LiveState
) -> list[Detector]:
    """What notices one lost host, role by role (the leader and the VIP holder are handled above)."""
    found: list[Detector] = []
    if host.has(Role.APP):
        found.append(BackendDown(balancers, "mattermost_app", host.name))
    if host.has(Role.STORAGE):
        found.append(BackendDown(balancers, "seaweedfs_s3", host.name))
    if host.has(Role.DATABASE) and host.name != live.leader:
        found.append(PatroniMemberGone(databases, host.name))
    if host.has(Role.ETCD):
        found.append(PortClosed(str(host.address), PORTS["etcd_client"]))
    if host.has(Role.LOADBALANCER) and host.name != live.vip_holder:
        found.append(PortClosed(str(host.address), PORTS["haproxy_stats"]))
    return found
