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
    broken: list[str] = field(default_factory=list)

    @property
    def unaccepted_spofs(self) -> list[SinglePointOfFailure]:
        return [s for s in self.spofs if not s.accepted_by]


def analyse(topology: Topology) -> Analysis:
    """Every single-host and single-domain loss, with per-service survival and the SPOF list."""
    analysis = Analysis(topology.name)
    if topology.platform is Platform.KUBERNETES:
        return analysis
    # A service already down with nothing lost is a broken topology (the rules say why),
    # not a single point of failure of any one host.
    layout = Layout(topology)
    broken = {s.name for s in simulate(topology, [], layout) if s.state is State.DOWN}
    analysis.broken = sorted(broken)
    for kind, target, lost in failure_cases(topology):
        states = simulate(topology, lost, layout)
        scenario = Scenario(kind, target, tuple(h.name for h in lost), states)
        analysis.scenarios.append(scenario)
        down = [name for name in scenario.down_services if name not in broken]
        if down:
            accepted = _acceptances(topology, down)
            analysis.spofs.append(SinglePointOfFailure(kind, target, tuple(down), accepted))
    return analysis


def failure_cases(topology: Topology) -> Iterable[tuple[str, str, list[Host]]]:
    seen: set[str] = set()
    for host in topology.hosts:
        if host.name not in seen:  # a duplicate name is its own error
            seen.add(host.name)
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


class Layout:
    """Per-role host lists and storage domains, computed once per analysis, not per scenario."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.by_role = {role: topology.with_role(role) for role in Role}
        self.names = {role: {h.name for h in hosts} for role, hosts in self.by_role.items()}
        across_zones = topology.storage_copies_across_zones()
        self.domain = {
            h.name: h.zone if across_zones or not h.rack else f"{h.zone}/{h.rack}"
            for h in self.by_role[Role.STORAGE]
        }

    def alive(self, role: Role, gone: set[str]) -> list[Host]:
        return [h for h in self.by_role[role] if h.name not in gone]

    def left(self, role: Role, gone: set[str]) -> int:
        """How many hosts of a role survive; O(lost), not O(hosts)."""
        return len(self.names[role]) - len(self.names[role] & gone)


def simulate(topology: Topology, lost: list[Host], layout: Layout | None = None) -> tuple[ServiceState, ...]:
    """What is left of each service once `lost` is gone."""
    layout = layout or Layout(topology)
    gone = {h.name for h in lost}
    states = [
        _loadbalancer(topology, layout, gone),
        _app(topology, layout, gone),
    ]
    etcd = _etcd(layout, gone)
    states.append(etcd)
    states.extend(_database(topology, layout, gone, etcd))
    states.append(_storage(topology, layout, gone))
    return tuple(states)


def _loadbalancer(topology: Topology, layout: Layout, gone: set[str]) -> ServiceState:
    total = len(layout.by_role[Role.LOADBALANCER])
    if topology.loadbalancer.external:
        return ServiceState("load balancer", State.UP, "external load balancer (not analysed)")
    alive = layout.alive(Role.LOADBALANCER, gone)
    if not alive:
        return ServiceState("load balancer", State.DOWN, f"0 of {total} load balancers left")
    where = "VIP moves to" if len(alive) < total else "VIP held by one of"
    names = ", ".join(h.name for h in alive)
    return ServiceState("load balancer", State.UP, f"{where} {names}")


def _app(topology: Topology, layout: Layout, gone: set[str]) -> ServiceState:
    total = len(layout.by_role[Role.APP])
    left = layout.left(Role.APP, gone)
    if not left:
        return ServiceState("app", State.DOWN, f"0 of {total} app nodes left")
    users = topology.mattermost.users
    capacity = app_capacity(users, left)
    detail = f"{left} of {total} app nodes, capacity ~{capacity} of {users} users"
    state = State.UP if capacity >= users else State.DEGRADED
    return ServiceState("app", state, detail)


def _etcd(layout: Layout, gone: set[str]) -> ServiceState:
    total = len(layout.by_role[Role.ETCD])
    if total == 0:
        return ServiceState("etcd", State.DOWN, "no etcd members: Patroni has no DCS")
    left = layout.left(Role.ETCD, gone)
    quorum = total // 2 + 1
    if left >= quorum:
        return ServiceState("etcd", State.UP, f"{left} of {total} members, quorum {quorum}")
    return ServiceState("etcd", State.DOWN, f"{left} of {total} members, below quorum {quorum}")


def _database(topology: Topology, layout: Layout, gone: set[str], etcd: ServiceState) -> list[ServiceState]:
    total = len(layout.by_role[Role.DATABASE])
    left = layout.left(Role.DATABASE, gone)
    reads = (
        ServiceState("database reads", State.UP, f"{left} of {total} members serve reads")
        if left
        else ServiceState("database reads", State.DOWN, f"0 of {total} members left")
    )
    sync = topology.database.synchronous_replication
    if not left:
        writes = ServiceState("database writes", State.DOWN, f"0 of {total} members left")
    elif etcd.state is State.DOWN:
        writes = ServiceState("database writes", State.DOWN, "etcd lost quorum: Patroni demotes the leader")
    else:
        loss = (
            "no acknowledged commit lost" if sync else "asynchronous: commits not yet replicated may be lost"
        )
        state = State.UP if sync or left == total else State.DEGRADED
        writes = ServiceState("database writes", state, f"a leader among {left} of {total} members; {loss}")
    return [writes, reads]


def _storage(topology: Topology, layout: Layout, gone: set[str]) -> ServiceState:
    storage = topology.storage
    hosts = layout.by_role[Role.STORAGE]
    if storage.type is StorageType.NFS:
        return ServiceState("file storage", State.UP, "NFS server outside the topology (not analysed)")
    if storage.type is StorageType.LOCAL:
        if layout.left(Role.APP, gone):
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
    lost_domains = {layout.domain[h.name] for h in hosts if h.name in gone}
    if len(lost_domains) >= storage.replication:
        return ServiceState(
            "file storage",
            State.DOWN,
            f"every copy of some files may be lost ({storage.replication} copies, "
            f"{len(lost_domains)} storage domain(s) lost)",
        )
    left_domains = {layout.domain[h.name] for h in hosts if h.name not in gone}
    if len(left_domains) < storage.replication:
        return ServiceState(
            "file storage",
            State.DOWN,
            f"uploads fail: {len(left_domains)} domain(s) left for {storage.replication} copies",
        )
    left = sum(1 for h in hosts if h.name not in gone)
    return ServiceState("file storage", State.UP, f"{left} of {len(hosts)} storage hosts, copies intact")
