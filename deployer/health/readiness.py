"""Failover readiness from live state: would the service survive losing each host and failure domain now."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.checks.explain import (
    Layout,
    ServiceState,
    SinglePointOfFailure,
    State,
    analyse,
    failure_cases,
    simulate,
)
from deployer.health.checks import Check
from deployer.health.model import CheckReport, HealthReport, Result, Status
from deployer.topology import Environment
from deployer.topology.model import Host, Role, Topology

NAME = "failover"
TITLE = "failover readiness: survives losing each host and zone now"
# A part of a host standing for one of its roles, so a role can be lost while the host lives.
PART = "#"

# Check names whose results say a role on a host is lost (see hostchecks and datachecks).
APP_PING = "app-ping"
DATABASE = "database"
REACHABLE = "hosts"
UNITS = "units"
ETCD = "etcd"
LOADBALANCERS = "loadbalancers"
STORAGE_NODES = "storage-nodes"
REPLICATION = "replication"
# Checks whose failed result for a host means that host's role is lost, nothing more.
ROLE_CHECKS = {APP_PING: Role.APP, ETCD: Role.ETCD, STORAGE_NODES: Role.STORAGE}


@dataclass(frozen=True)
class Member:
    """A database member as Patroni sees it, and whether it could take over as leader now."""

    name: str
    role: str
    running: bool
    promotable: bool
    why_not: str = ""

    @property
    def is_leader(self) -> bool:
        return self.role in {"leader", "standby_leader"} and self.running


@dataclass
class LiveState:
    """What is already broken: whole hosts down, single roles lost, and the database's members."""

    down_hosts: dict[str, str] = field(default_factory=dict)
    lost_roles: dict[tuple[str, Role], str] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    vip_holder: str | None = None

    def lose(self, host: str, role: Role, reason: str) -> None:
        self.lost_roles.setdefault((host, role), reason)

    @property
    def leader(self) -> str | None:
        return next((m.name for m in self.members.values() if m.is_leader), None)

    def already_lost(self) -> list[str]:
        """One line per thing already lost, for reasons and reports."""
        lines = [f"{host}: {why}" for host, why in sorted(self.down_hosts.items())]
        lines += [
            f"{host} {role}: {why}"
            for (host, role), why in sorted(self.lost_roles.items())
            if host not in self.down_hosts
        ]
        return lines


@dataclass(frozen=True)
class Verdict:
    """The loss of one host, zone or rack, judged on the live state."""

    kind: str
    target: str
    lost_hosts: tuple[str, ...]
    survives: bool
    reasons: tuple[str, ...]
    by_design: bool  # the topology alone survives this loss
    accepted: str = ""  # the accepted risk's reason when the topology's SPOF is accepted
    services: tuple[ServiceState, ...] = ()


@dataclass(frozen=True)
class Readiness:
    environment: str
    already_lost: tuple[str, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def ready(self) -> bool:
        return all(v.survives or v.accepted for v in self.verdicts)


def _host_of(target: str, names: Iterable[str]) -> str | None:
    """The topology host a result's target names: 'stg-app1 (10.0.0.1:8065)' -> 'stg-app1'."""
    first = target.split(" ", 1)[0]
    return first if first in set(names) else None


def live_state(topology: Topology, report: HealthReport) -> LiveState:
    """Reads the live state out of a health report's results (by check name and details)."""
    names = {h.name for h in topology.hosts}
    by_address = {str(h.address): h.name for h in topology.hosts}
    state = LiveState()
    for check in report.checks:
        for result in check.results:
            _read(state, check.name, result, names, by_address)
    return state


def _read(state: LiveState, check: str, result: Result, names: set[str], by_address: dict[str, str]) -> None:
    details: Mapping[str, Any] = result.details
    host = _host_of(result.target, names)
    failed = result.status is Status.FAIL
    if check == REACHABLE and failed and host:
        state.down_hosts[host] = result.summary
    elif check == UNITS and host:
        for role in details.get("roles_down", []):
            state.lose(host, Role(role), result.summary)
    elif check in ROLE_CHECKS and failed and host:
        state.lose(host, ROLE_CHECKS[check], f"{check}: {result.summary}")
    elif check == LOADBALANCERS and host:
        if failed:
            state.lose(host, Role.LOADBALANCER, result.summary)
        if details.get("vip_holder"):
            state.vip_holder = host
    elif check in {DATABASE, REPLICATION} and "role" in details:
        _read_member(state, check, result, names, by_address)


def _read_member(
    state: LiveState, check: str, result: Result, names: set[str], by_address: dict[str, str]
) -> None:
    details = result.details
    name = str(details.get("name", ""))
    address = str(details.get("host", ""))
    host = name if name in names else by_address.get(address, name)
    running = str(details.get("state", "")) in {"running", "streaming"}
    old = state.members.get(host)
    promotable = bool(details.get("promotable", running and result.status is not Status.FAIL))
    why = str(details.get("why_not", "")) or ("" if promotable else result.summary)
    if old is not None and check == DATABASE:
        # The replication check knows more (time lag, sync state); keep its verdict.
        promotable, why = old.promotable, old.why_not
    elif old is not None:
        promotable, why = old.promotable and promotable, old.why_not or why
    state.members[host] = Member(host, str(details.get("role", "")), running, promotable, why)
    if not running:
        state.lose(host, Role.DATABASE, f"database member {details.get('state', '?')}")


def split_topology(topology: Topology, live: LiveState) -> tuple[Topology, list[Host]]:
    """The topology with each lost role split off into a host part of its own, and those parts.

    Totals (quorum sizes, replica counts) stay those of the design; the lost parts go into
    every simulation as already lost, so `explain.simulate` needs no change.
    """
    hosts: list[Host] = []
    lost: list[Host] = []
    for host in topology.hosts:
        if host.name in live.down_hosts:
            hosts.append(host)
            lost.append(host)
            continue
        gone = [r for r in host.roles if (host.name, r) in live.lost_roles]
        kept = [r for r in host.roles if r not in gone]
        if kept:
            hosts.append(host if not gone else host.model_copy(update={"roles": kept}))
        for role in gone:
            part = host.model_copy(update={"name": f"{host.name}{PART}{role}", "roles": [role]})
            hosts.append(part)
            lost.append(part)
    return topology.model_copy(update={"hosts": hosts}), lost


def _parts_index(topology: Topology) -> dict[str, list[Host]]:
    """Host name -> the host and its split-off parts, so a loss finds them without a scan."""
    index: dict[str, list[Host]] = {}
    for host in topology.hosts:
        index.setdefault(host.name.split(PART, 1)[0], []).append(host)
    return index


def _database_writes(
    topology: Topology, live: LiveState, gone: set[str], current: ServiceState
) -> ServiceState:
    """Writes survive when the leader stays, or a healthy (synchronous, when required) standby is left."""
    if current.state is State.DOWN or not live.members:
        return current
    leader = live.leader
    if leader is None:
        return ServiceState("database writes", State.DOWN, "no running leader now")
    lost_db = {h for (h, r) in live.lost_roles if r is Role.DATABASE} | set(live.down_hosts)
    if leader not in gone and leader not in lost_db:
        return ServiceState("database writes", State.UP, f"leader {leader} stays")
    sync = topology.database.synchronous_replication
    left = [m for m in live.members.values() if m.name != leader and m.name not in gone | lost_db]
    candidates = [m for m in left if m.promotable and (not sync or m.role == "sync_standby")]
    if candidates:
        names = ", ".join(m.name for m in candidates)
        return ServiceState("database writes", State.UP, f"leader {leader} lost; {names} can take over")
    why = []
    for member in left:
        if not member.promotable:
            why.append(f"{member.name} {member.why_not or 'not promotable'}")
        elif sync:
            why.append(f"{member.name} is not the synchronous standby")
    reason = "; ".join(why) or "no standby left"
    return ServiceState(
        "database writes", State.DOWN, f"leader {leader} lost, no standby can take over: {reason}"
    )


@dataclass(frozen=True)
class Shaped:
    """The split topology, what it has already lost, and its indexes: built once per assessment."""

    topology: Topology
    already: list[Host]
    layout: Layout
    parts: dict[str, list[Host]]

    @classmethod
    def of(cls, topology: Topology, live: LiveState) -> Shaped:
        shaped, already = split_topology(topology, live)
        return cls(shaped, already, Layout(shaped), _parts_index(shaped))


def simulate_live(
    topology: Topology, live: LiveState, lost_names: Iterable[str], shaped: Shaped
) -> tuple[ServiceState, ...]:
    """Each service's state once `lost_names` are gone on top of what the live state already lost."""
    names = list(lost_names)
    already = {h.name for h in shaped.already}
    extra = [h for n in names for h in shaped.parts.get(n, []) if h.name not in already]
    states = list(simulate(shaped.topology, shaped.already + extra, shaped.layout))
    gone = set(names)
    for i, service in enumerate(states):
        if service.name == "database writes":
            states[i] = _database_writes(topology, live, gone, service)
    return tuple(states)


def assess(topology: Topology, live: LiveState) -> Readiness:
    """A verdict for every single host, zone and rack loss, from the live state."""
    shaped = Shaped.of(topology, live)
    design = analyse(topology)
    spofs: dict[tuple[str, str], SinglePointOfFailure] = {(s.kind, s.target): s for s in design.spofs}
    broken_now = {s.name for s in simulate_live(topology, live, [], shaped) if s.state is State.DOWN}
    verdicts = []
    for kind, target, hosts in failure_cases(topology):
        names = [h.name for h in hosts]
        states = simulate_live(topology, live, names, shaped)
        down = [s for s in states if s.state is State.DOWN]
        spof = spofs.get((kind, target))
        accepted = spof.accepted_by[0].reason if spof and spof.accepted_by else ""
        reasons = tuple(f"{s.name}: {s.detail}" for s in down)
        if broken_now:
            reasons = (*reasons, "already down now: " + ", ".join(sorted(broken_now)))
        verdicts.append(
            Verdict(kind, target, tuple(names), not down, reasons, spof is None, accepted, states)
        )
    return Readiness(topology.name, tuple(live.already_lost()), tuple(verdicts))


def _result(verdict: Verdict) -> Result:
    target = f"{verdict.kind} {verdict.target}"
    details: dict[str, Any] = {
        "kind": verdict.kind,
        "lost": verdict.target,
        "lost_hosts": list(verdict.lost_hosts),
        "survives": verdict.survives,
        "by_design": verdict.by_design,
        "reasons": list(verdict.reasons),
    }
    if verdict.survives:
        degraded = [f"{s.name}: {s.detail}" for s in verdict.services if s.state is State.DEGRADED]
        summary = "survives" + (f" (degraded: {'; '.join(degraded)})" if degraded else "")
        return Result.ok(target, summary, **details)
    because = "; ".join(verdict.reasons)
    if verdict.accepted:
        return Result.ok(
            target, f"does not survive, accepted risk ({verdict.accepted}): {because}", **details
        )
    where = " (the topology would; live state does not)" if verdict.by_design else ""
    return Result.warn(target, f"does NOT survive{where}: {because}", **details)


def as_check(readiness: Readiness, elapsed: float = 0.0) -> CheckReport:
    """The verdicts as one check of the report: warnings (degraded but serving) where a loss kills it."""
    results = [_result(v) for v in readiness.verdicts]
    if not results:
        results = [Result.skip(NAME, "no hosts to lose (Kubernetes platform or empty topology)")]
    return CheckReport(NAME, TITLE, results, elapsed)


def with_readiness(report: HealthReport, topology: Topology) -> HealthReport:
    """The report with the failover readiness check appended, computed from its own results."""
    started = time.monotonic()
    readiness = assess(topology, live_state(topology, report))
    spent = time.monotonic() - started
    check = as_check(readiness, spent)
    return HealthReport(report.environment, [*report.checks, check], report.elapsed + spent)


def extra_checks(environment: Environment, timeout: float = 10.0, ssh_timeout: float = 5.0) -> list[Check]:
    """The checks beyond the app tier's: every host over verified SSH, and the data tier's internals."""
    # Imported here: the vault pulls in ansible, SSH pulls in paramiko; readiness alone needs neither.
    from deployer.health.datachecks import ClientTls, data_checks  # noqa: PLC0415
    from deployer.health.hostchecks import Survey, host_checks, shell_for  # noqa: PLC0415
    from deployer.secrets import load_secrets  # noqa: PLC0415

    topology = environment.topology
    vault = load_secrets(environment)
    survey = Survey(topology, shell_for(environment.name), ssh_timeout)
    # etcd wants a client certificate from the environment CA: any member's own will do.
    member = next((h.name for h in topology.with_role(Role.ETCD) if h.name in vault.hosts), None)
    etcd_tls = ClientTls(vault.ca.cert, vault.hosts[member].cert, vault.hosts[member].key) if member else None
    return [*host_checks(survey), *data_checks(topology, survey, etcd_tls, timeout)]


def full_report(environment: Environment, timeout: float = 10.0, *, extended: bool = True) -> HealthReport:
    """Every check at once, then failover readiness from their results; `extended=False`: app tier only."""
    from deployer.health.checks import default_checks  # noqa: PLC0415
    from deployer.health.runner import run_checks  # noqa: PLC0415
    from deployer.health.targets import Secrets, targets_for  # noqa: PLC0415
    from deployer.secrets import load_secrets  # noqa: PLC0415

    topology = environment.topology
    vault = load_secrets(environment)
    secrets = Secrets(s3_access_key=vault.s3_access_key, s3_secret_key=vault.s3_secret_key)
    targets = targets_for(topology, secrets, ca_pem=vault.ca.cert)
    checks: list[Check] = list(default_checks(timeout))
    if extended:
        checks += extra_checks(environment, timeout, min(timeout, 5.0))
    return with_readiness(run_checks(targets, checks), topology)
