"""Simulates the loss of every host and failure domain and says which services survive it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from deployer.sizing import app_capacity
from deployer.topology.model import Host, Platform, Role, StorageType, Topology


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


# Which accepted rules explain an outage of which service.
SERVICE_RULES: dict[str, tuple[str, ...]] = {
    "load balancer": ("lb-redundancy",),
    "app": ("app-redundancy", "app-capacity"),
    "etcd": ("etcd-quorum", "etcd-zone-majority"),
    "database writes": ("db-failover", "etcd-quorum", "etcd-zone-majority"),
    "database reads": ("db-failover",),
    "file storage": ("storage-replication", "storage-spread", "storage-masters"),
}


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: State
    detail: str


@dataclass(frozen=True)
class Scenario:
    """The loss of one host or one failure domain."""

    kind: str  # host | zone | rack
    target: str
    lost_hosts: tuple[str, ...]
    services: tuple[ServiceState, ...]

    @property
    def outcome(self) -> State:
        states = {s.state for s in self.services}
        if State.DOWN in states:
            return State.DOWN
        if State.DEGRADED in states:
            return State.DEGRADED
        return State.UP

    @property
    def down_services(self) -> list[str]:
        return [s.name for s in self.services if s.state is State.DOWN]


@dataclass(frozen=True)
class AcceptedBy:
    rule: str
    reason: str


@dataclass(frozen=True)
class SinglePointOfFailure:
    kind: str
    target: str
    services_down: tuple[str, ...]
    accepted_by: tuple[AcceptedBy, ...] = ()


@dataclass
class Analysis:
    environment: str
    scenarios: list[Scenario] = field(default_factory=list)
    spofs: list[SinglePointOfFailure] = field(default_factory=list)

    @property
    def unaccepted_spofs(self) -> list[SinglePointOfFailure]:
        return [s for s in self.spofs if not s.accepted_by]


def analyse(topology: Topology) -> Analysis:
    """Every single-host and single-domain loss, with per-service survival and the SPOF list."""
    analysis = Analysis(topology.name)
    if topology.platform is Platform.KUBERNETES:
        return analysis
    for kind, target, lost in failure_cases(topology):
        scenario = Scenario(kind, target, tuple(h.name for h in lost), simulate(topology, lost))
        analysis.scenarios.append(scenario)
        if scenario.outcome is State.DOWN:
            accepted = _acceptances(topology, scenario.down_services)
            analysis.spofs.append(SinglePointOfFailure(kind, target, tuple(scenario.down_services), accepted))
    return analysis


def failure_cases(topology: Topology) -> Iterable[tuple[str, str, list[Host]]]:
    for host in topology.hosts:
        yield "host", host.name, [host]
    zones: dict[str, list[Host]] = {}
    racks: dict[str, list[Host]] = {}
    for host in topology.hosts:
        zones.setdefault(host.zone, []).append(host)
        if host.rack:
            racks.setdefault(f"{host.zone}/{host.rack}", []).append(host)
    for zone in sorted(zones):
        yield "zone", zone, zones[zone]
    for rack in sorted(racks):
        yield "rack", rack, racks[rack]


def _acceptances(topology: Topology, services: list[str]) -> tuple[AcceptedBy, ...]:
    spof = topology.accepted("spof")
    if spof is None:
        return ()
    found: list[AcceptedBy] = [AcceptedBy("spof", spof.reason)]
    for service in services:
        for rule in SERVICE_RULES.get(service, ()):
            risk = topology.accepted(rule)
            if risk and all(a.rule != rule for a in found):
                found.append(AcceptedBy(rule, risk.reason))
    return tuple(found)


def simulate(topology: Topology, lost: list[Host]) -> tuple[ServiceState, ...]:
    """What is left of each service once `lost` is gone."""
    gone = {h.name for h in lost}

    def alive(role: Role) -> list[Host]:
        return [h for h in topology.with_role(role) if h.name not in gone]

    states = [
        _loadbalancer(topology, alive(Role.LOADBALANCER)),
        _app(topology, alive(Role.APP)),
    ]
    etcd = _etcd(topology, alive(Role.ETCD))
    states.append(etcd)
    states.extend(_database(topology, alive(Role.DATABASE), etcd))
    states.append(_storage(topology, gone))
    return tuple(states)


def _loadbalancer(topology: Topology, alive: list[Host]) -> ServiceState:
    total = len(topology.with_role(Role.LOADBALANCER))
    if topology.loadbalancer.external:
        return ServiceState("load balancer", State.UP, "external load balancer (not analysed)")
    if not alive:
        return ServiceState("load balancer", State.DOWN, f"0 of {total} load balancers left")
    where = "VIP moves to" if len(alive) < total else "VIP held by one of"
    names = ", ".join(h.name for h in alive)
    return ServiceState("load balancer", State.UP, f"{where} {names}")


def _app(topology: Topology, alive: list[Host]) -> ServiceState:
    total = len(topology.with_role(Role.APP))
    if not alive:
        return ServiceState("app", State.DOWN, f"0 of {total} app nodes left")
    users = topology.mattermost.users
    capacity = app_capacity(users, len(alive))
    detail = f"{len(alive)} of {total} app nodes, capacity ~{capacity} of {users} users"
    state = State.UP if capacity >= users else State.DEGRADED
    return ServiceState("app", state, detail)


def _etcd(topology: Topology, alive: list[Host]) -> ServiceState:
    total = len(topology.with_role(Role.ETCD))
    if total == 0:
        return ServiceState("etcd", State.DOWN, "no etcd members: Patroni has no DCS")
    quorum = total // 2 + 1
    if len(alive) >= quorum:
        return ServiceState("etcd", State.UP, f"{len(alive)} of {total} members, quorum {quorum}")
    return ServiceState("etcd", State.DOWN, f"{len(alive)} of {total} members, below quorum {quorum}")


def _database(topology: Topology, alive: list[Host], etcd: ServiceState) -> list[ServiceState]:
    total = len(topology.with_role(Role.DATABASE))
    reads = (
        ServiceState("database reads", State.UP, f"{len(alive)} of {total} members serve reads")
        if alive
        else ServiceState("database reads", State.DOWN, f"0 of {total} members left")
    )
    if not alive:
        writes = ServiceState("database writes", State.DOWN, f"0 of {total} members left")
    elif etcd.state is State.DOWN:
        writes = ServiceState("database writes", State.DOWN, "etcd lost quorum: Patroni demotes the leader")
    else:
        loss = (
            "no acknowledged commit lost"
            if topology.database.synchronous_replication
            else ("asynchronous: commits not yet replicated may be lost")
        )
        state = (
            State.UP if topology.database.synchronous_replication or len(alive) == total else (State.DEGRADED)
        )
        writes = ServiceState(
            "database writes", state, f"a leader among {len(alive)} of {total} members; {loss}"
        )
    return [writes, reads]


def _storage(topology: Topology, gone: set[str]) -> ServiceState:
    storage = topology.storage
    hosts = topology.with_role(Role.STORAGE)
    if storage.type is StorageType.NFS:
        return ServiceState("file storage", State.UP, "NFS server outside the topology (not analysed)")
    if storage.type is StorageType.LOCAL:
        apps = [h for h in topology.with_role(Role.APP) if h.name not in gone]
        if apps:
            return ServiceState("file storage", State.UP, "local directory on the app node")
        return ServiceState("file storage", State.DOWN, "the app node holding the files is lost")
    if not hosts:
        return ServiceState("file storage", State.DOWN, "no storage hosts")
    masters = hosts[:3]
    masters_left = [h for h in masters if h.name not in gone]
    if len(masters_left) < len(masters) // 2 + 1:
        return ServiceState(
            "file storage",
            State.DOWN,
            f"{len(masters_left)} of {len(masters)} SeaweedFS masters, below quorum",
        )
    lost_domains = {_domain(h) for h in hosts if h.name in gone}
    if len(lost_domains) >= storage.replication:
        return ServiceState(
            "file storage",
            State.DOWN,
            f"every copy of some files may be lost ({storage.replication} copies, "
            f"{len(lost_domains)} storage domain(s) lost)",
        )
    left_domains = {_domain(h) for h in hosts if h.name not in gone}
    if len(left_domains) < storage.replication:
        return ServiceState(
            "file storage",
            State.DOWN,
            f"uploads fail: {len(left_domains)} domain(s) left for {storage.replication} copies",
        )
    left = sum(1 for h in hosts if h.name not in gone)
    return ServiceState("file storage", State.UP, f"{left} of {len(hosts)} storage hosts, copies intact")


def _domain(host: Host) -> str:
    """Copies go to distinct zones, or to distinct racks inside a zone."""
    return f"{host.zone}/{host.rack}" if host.rack else host.zone
