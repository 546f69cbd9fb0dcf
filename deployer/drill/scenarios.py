"""The drill scenarios: which hosts to hit, with which fault, what the cluster must achieve."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.errors import DeployerError
from deployer.health.readiness import LiveState
from deployer.topology.model import Role, Topology

SCENARIOS = (
    "db-primary-loss",
    "db-replica-loss",
    "etcd-member-loss",
    "app-node-loss",
    "lb-loss",
    "storage-node-loss",
    "zone-loss",
)
FAULTS = ("kill", "stop", "pause", "partition")


class ScenarioError(DeployerError):
    """The scenario cannot run on this topology (nothing to lose, or nothing left after the loss)."""


@dataclass(frozen=True)
class Target:
    """One figure's limit; `None` figures (never recovered) always miss it."""

    figure: str
    limit: float
    text: str


@dataclass(frozen=True)
class Plan:
    scenario: str
    victims: tuple[str, ...]
    fault: str
    roles: tuple[Role, ...]  # what the fault takes away (for service-level injection on real hosts)
    why: str
    targets: tuple[Target, ...]


ZERO_LOST = Target("writes_lost", 0, "0 acknowledged writes lost")
ZERO_FILES_LOST = Target("files_lost", 0, "0 acknowledged files lost")
RECOVERS = Target("recovery_seconds", 120, "writes recover within 120 s")
DEFAULT_FAULT = {"app-node-loss": "stop"}


def _pick(candidates: list[str], avoid: set[str]) -> str:
    """The first candidate not in `avoid`, else the first: drills prefer to hit one thing at a time."""
    return next((c for c in candidates if c not in avoid), candidates[0])


def plan(scenario: str, topology: Topology, live: LiveState, fault: str | None = None) -> Plan:
    """Choose the victims from the live state (the current leader, the VIP holder, ...)."""
    if scenario not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {scenario!r}", hint=f"one of {', '.join(SCENARIOS)}")
    kind = fault or DEFAULT_FAULT.get(scenario, "kill")
    names = {role: [h.name for h in topology.with_role(role)] for role in Role}
    leader = live.leader
    special = {n for n in [leader, live.vip_holder] if n}
    if scenario == "db-primary-loss":
        if not leader:
            raise ScenarioError("no database leader to lose", hint="run `deployer health` first")
        rto = 25 if kind == "kill" else 5
        return Plan(
            scenario,
            (leader,),
            kind,
            (Role.DATABASE,),
            f"{leader} is the Patroni leader",
            (Target("recovery_seconds", rto, f"writes recover within {rto} s"), ZERO_LOST),
        )
    if scenario == "db-replica-loss":
        replicas = [n for n in names[Role.DATABASE] if n != leader]
        _need(replicas, "a database replica")
        victim = _pick(replicas, special)
        return Plan(
            scenario, (victim,), kind, (Role.DATABASE,), f"{victim} is a replica", (RECOVERS, ZERO_LOST)
        )
    if scenario == "etcd-member-loss":
        _need(names[Role.ETCD], "an etcd member")
        victim = _pick(names[Role.ETCD], special)
        return Plan(
            scenario, (victim,), kind, (Role.ETCD,), f"{victim} is an etcd member", (RECOVERS, ZERO_LOST)
        )
    if scenario == "app-node-loss":
        _need(names[Role.APP], "an app node", 2)
        victim = _pick(names[Role.APP], special)
        return Plan(
            scenario,
            (victim,),
            kind,
            (Role.APP,),
            f"{victim} is an app node",
            (Target("failed_requests", 0, "0 failed client requests"), ZERO_LOST),
        )
    if scenario == "lb-loss":
        _need(names[Role.LOADBALANCER], "a load balancer", 2)
        victim = live.vip_holder or names[Role.LOADBALANCER][0]
        return Plan(
            scenario,
            (victim,),
            kind,
            (Role.LOADBALANCER,),
            f"{victim} holds the VIP",
            (Target("recovery_seconds", 4, "service back within 4 s"), ZERO_LOST),
        )
    if scenario == "storage-node-loss":
        _need(names[Role.STORAGE], "a storage node", 2)
        victim = _pick(names[Role.STORAGE], special)
        return Plan(
            scenario,
            (victim,),
            kind,
            (Role.STORAGE,),
            f"{victim} is a storage node",
            (RECOVERS, ZERO_FILES_LOST),
        )
    return _zone(topology, live, kind)


def _zone(topology: Topology, live: LiveState, kind: str) -> Plan:
    """The zone holding the database leader: the hardest single zone to lose."""
    zones = topology.zones
    if len(zones) < 2:  # noqa: PLR2004 - a zone loss needs somewhere else to go
        raise ScenarioError("zone-loss needs at least two zones", hint="this topology has one")
    leader = live.leader
    zone = next((h.zone for h in topology.hosts if h.name == leader), zones[0])
    victims = tuple(h.name for h in topology.hosts if h.zone == zone and not h.has(Role.BASTION))
    roles = tuple(sorted({r for h in topology.hosts if h.name in victims for r in h.roles}))
    return Plan(
        "zone-loss",
        victims,
        kind,
        roles,
        f"{zone} holds the database leader" if leader else f"{zone} is the first zone",
        (RECOVERS, ZERO_LOST, ZERO_FILES_LOST),
    )


def _need(hosts: list[str], what: str, count: int = 1) -> None:
    if len(hosts) < count:
        raise ScenarioError(
            f"the topology has {len(hosts)} host(s) for {what}; this drill needs {count}",
            hint="losing the only one is an outage by design, not a drill",
        )
