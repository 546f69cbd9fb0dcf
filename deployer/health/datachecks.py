"""Data-tier checks: Patroni replication and timelines, etcd quorum, load balancers and the VIP, SeaweedFS."""

from __future__ import annotations

import csv
import io
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from deployer.health.checks import parallel
from deployer.health.hostchecks import SEAWEEDFS_MASTERS, Survey
from deployer.health.http import HttpError, request
from deployer.health.model import Result, Status
from deployer.health.targets import PATRONI_API_PORT, Targets
from deployer.render.ansible import PORTS
from deployer.topology.model import Host, Role, Topology

LEADER_ROLES = frozenset({"leader", "standby_leader"})
HTTP_OK = 200

Fetch = Callable[[str, int, str, float], Any]


def fetch_json(address: str, port: int, path: str, timeout: float) -> Any:  # noqa: ANN401 - JSON
    """GET a JSON document over plain HTTP (Patroni, SeaweedFS masters, HAProxy stats)."""
    answer = request("GET", address, port, path, timeout=timeout)
    if answer.status != HTTP_OK:
        raise HttpError(f"HTTP {answer.status} for {path}")
    if path.endswith(";csv"):
        return answer.body.decode(errors="replace")
    return answer.json()


def _timestamp(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class Replication:
    """Patroni: replicas streaming within max lag (bytes and seconds), a sync standby, sane timelines."""

    topology: Topology
    timeout: float = 10.0
    fetch: Fetch = fetch_json
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: ClassVar[str] = "replication"
    title: ClassVar[str] = "database: lag, synchronous standby, timelines"

    def run(self, targets: Targets) -> list[Result]:
        del targets
        hosts = self.topology.with_role(Role.DATABASE)
        if not hosts:
            return [Result.skip("replication", "no database hosts in the topology")]
        states = parallel(self._patroni, hosts)
        cluster = next((c for _, c, _ in states if c), None)
        if cluster is None:
            return [Result.fail("replication", "no Patroni answered /cluster")]
        members = cluster.get("members", [])
        leader = next((m for m in members if m.get("role") in LEADER_ROLES), None)
        own = {h.name: (p, err) for h, (p, _, err) in zip(hosts, states, strict=True)}
        location = (
            own.get(str(leader.get("name")), ({}, ""))[0].get("xlog", {}).get("location") if leader else None
        )
        results = [
            self._member(m, own.get(str(m.get("name")), ({}, "not asked"))[0], location) for m in members
        ]
        results.append(self._sync(members))
        history = self._history(leader)
        results.append(self._timelines(members, leader, history))
        return results

    def _patroni(self, host: Host) -> tuple[dict[str, Any], dict[str, Any], str]:
        address = str(host.address)
        try:
            own = self.fetch(address, PATRONI_API_PORT, "/patroni", self.timeout)
            cluster = self.fetch(address, PATRONI_API_PORT, "/cluster", self.timeout)
        except HttpError as exc:
            return {}, {}, str(exc)
        return own, cluster, ""

    def _history(self, leader: dict[str, Any] | None) -> list[Any] | None:
        if leader is None:
            return None
        try:
            found = self.fetch(str(leader.get("host")), PATRONI_API_PORT, "/history", self.timeout)
        except HttpError:
            return None
        return found if isinstance(found, list) else None

    def _member(self, member: dict[str, Any], own: dict[str, Any], location: object) -> Result:
        name = str(member.get("name", "?"))
        role = str(member.get("role", "?"))
        state = str(member.get("state", "?"))
        details = {k: member.get(k) for k in ("name", "role", "state", "host", "timeline", "lag")}
        if role in LEADER_ROLES:
            ok = state == "running"
            details.update(promotable=ok, why_not="" if ok else f"leader {state}")
            make = Result.ok if ok else Result.fail
            return make(name, f"{role}, {state}, timeline {member.get('timeline')}", **details)
        lag_bytes = member.get("lag")
        seconds = self._seconds_behind(own, location)
        details.update(lag_bytes=lag_bytes, lag_seconds=seconds)
        problems = []
        if state not in {"running", "streaming"}:
            problems.append(state)
        db = self.topology.database
        if not isinstance(lag_bytes, int):
            problems.append(f"lag {lag_bytes}")
        elif lag_bytes > db.max_lag_bytes:
            problems.append(f"lag {lag_bytes} bytes > {db.max_lag_bytes}")
        if seconds is not None and seconds > db.max_lag_seconds:
            problems.append(f"lag {seconds:.0f} s > {db.max_lag_seconds} s")
        if (member.get("tags") or {}).get("nofailover"):
            problems.append("tagged nofailover")
        lag_text = f"lag {lag_bytes} bytes" + (f", {seconds:.1f} s" if seconds is not None else "")
        summary = f"{role}, {state}, {lag_text}"
        details.update(promotable=not problems, why_not=", ".join(problems))
        if problems:
            # Behind but streaming still serves reads: degraded; not streaming at all fails.
            make = Result.fail if state not in {"running", "streaming"} else Result.warn
            return make(name, f"{summary}: not promotable ({', '.join(problems)})", **details)
        return Result.ok(name, summary, **details)

    def _seconds_behind(self, own: dict[str, Any], location: object) -> float | None:
        """Seconds since the last replayed commit, or 0 when everything the leader wrote is replayed."""
        xlog = own.get("xlog") or {}
        replayed = xlog.get("replayed_location")
        if isinstance(replayed, int) and isinstance(location, int) and replayed >= location:
            return 0.0
        stamp = _timestamp(xlog.get("replayed_timestamp"))
        if stamp is None:
            return None
        return max((self.now() - stamp).total_seconds(), 0.0)

    def _sync(self, members: list[dict[str, Any]]) -> Result:
        required = self.topology.database.synchronous_replication
        sync = [str(m.get("name")) for m in members if m.get("role") == "sync_standby"]
        if not required:
            return Result.ok("synchronous standby", "not required (asynchronous replication)")
        if sync:
            return Result.ok("synchronous standby", ", ".join(sync), sync_standbys=sync)
        return Result.fail(
            "synchronous standby", "required by the topology but none: commits wait or failover loses data"
        )

    def _timelines(
        self, members: list[dict[str, Any]], leader: dict[str, Any] | None, history: list[Any] | None
    ) -> Result:
        if leader is None:
            return Result.fail("timeline", "no leader")
        current = leader.get("timeline")
        behind = [str(m.get("name")) for m in members if m.get("timeline") not in {None, current}]
        numbers = [entry[0] for entry in history or [] if isinstance(entry, list) and entry]
        problems = []
        if behind:
            problems.append(f"{', '.join(behind)} not on timeline {current}")
        if numbers != sorted(set(numbers)):
            problems.append(f"history not increasing: {numbers}")
        if numbers and isinstance(current, int) and numbers[-1] >= current:
            problems.append(f"history ends at {numbers[-1]} but the leader is on {current}")
        details = {"timeline": current, "history": numbers}
        if problems:
            return Result.fail("timeline", "; ".join(problems), **details)
        return Result.ok(
            "timeline", f"all on timeline {current}, {len(numbers)} failover(s) in history", **details
        )


@dataclass(frozen=True)
class ClientTls:
    """PEMs for a TLS client that the environment's CA vouches for (etcd asks for client certificates)."""

    ca: str
    cert: str
    key: str

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # ssl loads chains from files only: a private temporary file, removed at once.
        fd, path = tempfile.mkstemp(prefix="deployer-client-", suffix=".pem")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.cert + "\n" + self.key)
            context.load_cert_chain(path)
        finally:
            Path(path).unlink()
        return context


@dataclass
class Etcd:
    """Every etcd member healthy, one leader they agree on, and a quorum of them."""

    topology: Topology
    tls: ClientTls | None
    timeout: float = 10.0
    name: ClassVar[str] = "etcd"
    title: ClassVar[str] = "etcd: quorum and member health"

    def run(self, targets: Targets) -> list[Result]:
        del targets
        members = self.topology.with_role(Role.ETCD)
        if not members:
            return [Result.skip("etcd", "no etcd members in the topology")]
        if self.tls is None:
            return [Result.fail("etcd", "no client certificate for etcd in the vault")]
        context = self.tls.context()
        answers = parallel(lambda h: self._status(h, context), members)
        results = []
        leaders = set()
        for host, (status, error) in zip(members, answers, strict=True):
            if error:
                results.append(Result.fail(host.name, error))
                continue
            leaders.add(str(status.get("leader")))
            term = status.get("raftTerm", "?")
            results.append(Result.ok(host.name, f"healthy, raft term {term}", version=status.get("version")))
        healthy = sum(1 for r in results if r.status is Status.OK)
        quorum = len(members) // 2 + 1
        text = f"{healthy} of {len(members)} healthy, quorum {quorum}"
        if healthy < quorum:
            results.append(Result.fail("quorum", f"{text}: LOST (Patroni demotes the leader)"))
        elif len(leaders) > 1:
            results.append(Result.fail("quorum", f"{text}, but members name {len(leaders)} leaders"))
        elif healthy < len(members):
            results.append(
                Result.warn("quorum", f"{text}: one more loss stops writes" if healthy == quorum else text)
            )
        else:
            results.append(Result.ok("quorum", text))
        return results

    def _status(self, host: Host, context: ssl.SSLContext) -> tuple[dict[str, Any], str]:
        address, port = str(host.address), PORTS["etcd_client"]
        try:
            health = request("GET", address, port, "/health", timeout=self.timeout, tls=context).json()
            answer = request(
                "POST", address, port, "/v3/maintenance/status", timeout=self.timeout, tls=context, body=b"{}"
            )
            status = answer.json()
        except HttpError as exc:
            return {}, str(exc)
        if not isinstance(health, dict) or str(health.get("health")) != "true":
            return {}, f"unhealthy: {health}"
        return status if isinstance(status, dict) else {}, ""


def haproxy_backends(text: str) -> dict[str, dict[str, str]]:
    """HAProxy's `show stat` CSV as {proxy: {server: status}} (servers only)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        server = row.get("svname", "")
        if server in {"FRONTEND", "BACKEND", ""}:
            continue
        found.setdefault(row.get("pxname", ""), {})[server] = row.get("status", "")
    return found


@dataclass
class LoadBalancers:
    """Exactly one load balancer holds the VIP, and each one's HAProxy sees its backends up."""

    topology: Topology
    survey: Survey
    timeout: float = 10.0
    fetch: Fetch = fetch_json
    name: ClassVar[str] = "loadbalancers"
    title: ClassVar[str] = "load balancers: VIP holder and backends up"

    def run(self, targets: Targets) -> list[Result]:
        del targets
        lbs = self.topology.with_role(Role.LOADBALANCER)
        if not lbs or self.topology.loadbalancer.external:
            return [Result.skip("loadbalancers", "no load balancers of ours in the topology")]
        vip = str(self.topology.loadbalancer.vip or "")
        facts = self.survey.facts()
        results = parallel(lambda h: self._one(h, vip, facts[h.name].addresses), lbs)
        holders = [r.target for r in results if r.details.get("vip_holder")]
        if vip:
            if len(holders) == 1:
                results.append(Result.ok("vip", f"{vip} held by {holders[0]}", holder=holders[0]))
            elif not holders:
                results.append(Result.fail("vip", f"{vip} held by no load balancer we can see"))
            else:
                results.append(
                    Result.fail("vip", f"{vip} held by {', '.join(holders)} at once (split brain)")
                )
        return results

    def _one(self, host: Host, vip: str, addresses: tuple[str, ...]) -> Result:
        holder = bool(vip) and vip in addresses
        try:
            text = self.fetch(str(host.address), PORTS["haproxy_stats"], "/stats;csv", self.timeout)
        except HttpError as exc:
            return Result.fail(host.name, f"HAProxy stats: {exc}", vip_holder=holder)
        backends = haproxy_backends(str(text))
        parts, problems = [], []
        for proxy, servers in sorted(backends.items()):
            up = sorted(s for s, state in servers.items() if state.startswith("UP"))
            parts.append(f"{proxy} {len(up)}/{len(servers)}")
            if proxy == "postgresql_write" and len(up) != 1:
                problems.append(f"{len(up)} write backends up")
            elif proxy != "postgresql_write" and not up:
                problems.append(f"{proxy}: no backend up")
        role = "holds the VIP" if holder else "standby"
        details = {"vip_holder": holder, "backends": backends}
        text = f"{role}; {', '.join(parts)}"
        if problems:
            return Result.warn(host.name, f"{text}: {'; '.join(problems)}", **details)
        return Result.ok(host.name, text, **details)


@dataclass
class StorageNodes:
    """SeaweedFS: the masters agree on a leader, every storage host serves volumes, volumes fully copied."""

    topology: Topology
    timeout: float = 10.0
    fetch: Fetch = fetch_json
    name: ClassVar[str] = "storage-nodes"
    title: ClassVar[str] = "storage: masters' leader, volume servers, replication"

    def run(self, targets: Targets) -> list[Result]:
        del targets
        hosts = self.topology.with_role(Role.STORAGE)
        if not hosts:
            return [Result.skip("storage-nodes", "no storage hosts in the topology")]
        masters = hosts[:SEAWEEDFS_MASTERS]
        answers = parallel(lambda h: self._ask(h, "/cluster/status"), masters)
        results, topology, volumes = self._leader(answers)
        nodes = _data_nodes(topology)
        for host, (_, err) in zip(masters, answers, strict=True):
            if err:
                results.append(Result.fail(host.name, f"master: {err}"))
        for host in hosts:
            if any(r.target == host.name for r in results):
                continue
            if topology and str(host.address) not in nodes:
                results.append(Result.fail(host.name, "volume server not registered with the master"))
            elif topology:
                results.append(Result.ok(host.name, f"volume server up, {nodes[str(host.address)]} volumes"))
        if volumes:
            results.append(_replication(volumes))
        return results

    def _leader(
        self, answers: list[tuple[dict[str, Any], str]]
    ) -> tuple[list[Result], dict[str, Any], dict[str, Any]]:
        """The masters' agreed leader, and its view of the volume servers and volumes."""
        port = PORTS["seaweedfs_master"]
        leaders = {_master(str(a.get("Leader", ""))) for a, err in answers if not err}
        leader = next((a for a, err in answers if not err and a.get("IsLeader")), None)
        if len(leaders) != 1 or leader is None:
            return [Result.fail("masters", f"no agreed leader among the masters: {sorted(leaders)}")], {}, {}
        address = next(iter(leaders)).rsplit(":", 1)[0]
        results = [Result.ok("masters", f"leader {address}:{port}", leader=address)]
        try:
            topology = self.fetch(address, port, "/dir/status", self.timeout)
            volumes = self.fetch(address, port, "/vol/status", self.timeout)
        except HttpError as exc:
            results.append(Result.fail("volumes", f"leader did not answer: {exc}"))
            return results, {}, {}
        return results, topology, volumes

    def _ask(self, host: Host, path: str) -> tuple[dict[str, Any], str]:
        try:
            found = self.fetch(str(host.address), PORTS["seaweedfs_master"], path, self.timeout)
        except HttpError as exc:
            return {}, str(exc)
        return (found, "") if isinstance(found, dict) else ({}, "unexpected answer")


def _master(leader: str) -> str:
    """'10.0.0.1:9333' from a leader as masters name it ('10.0.0.1:9333.19333' carries the gRPC port)."""
    host, _, port = leader.rpartition(":")
    return f"{host}:{port.split('.')[0]}" if host else leader


def _data_nodes(topology: dict[str, Any]) -> dict[str, int]:
    """Volume server address -> number of volumes, from the master's /dir/status."""
    found = {}
    for dc in (topology.get("Topology") or {}).get("DataCenters") or []:
        for rack in dc.get("Racks") or []:
            for node in rack.get("DataNodes") or []:
                found[str(node.get("Url", "")).rsplit(":", 1)[0]] = int(node.get("Volumes", 0))
    return found


def _replication(status: dict[str, Any]) -> Result:
    """Each volume id has as many copies as its replica placement asks (1 + node + rack + dc)."""
    copies: dict[int, int] = {}
    wanted: dict[int, int] = {}
    centers = (status.get("Volumes") or {}).get("DataCenters") or {}
    for racks in centers.values():
        for nodes in racks.values():
            for volumes in nodes.values():
                for volume in volumes or []:
                    vid = int(volume.get("Id", 0))
                    placement = volume.get("ReplicaPlacement") or {}
                    need = 1 + sum(int(placement.get(k, 0)) for k in ("node", "rack", "dc"))
                    copies[vid] = copies.get(vid, 0) + 1
                    wanted[vid] = max(wanted.get(vid, 0), need)
    short = sorted(v for v in copies if copies[v] < wanted[v])
    details = {"volumes": len(copies), "under_replicated": short}
    if short:
        shown = ", ".join(str(v) for v in short[:10])
        return Result.warn(
            "volumes", f"{len(short)} of {len(copies)} volumes lack copies: {shown}", **details
        )
    return Result.ok("volumes", f"{len(copies)} volumes, each with its copies", **details)


def data_checks(
    topology: Topology, survey: Survey, etcd_tls: ClientTls | None, timeout: float = 10.0
) -> list[Replication | Etcd | LoadBalancers | StorageNodes]:
    """The data-tier checks, in report order."""
    return [
        Replication(topology, timeout),
        Etcd(topology, etcd_tls, timeout),
        LoadBalancers(topology, survey, timeout),
        StorageNodes(topology, timeout),
    ]
