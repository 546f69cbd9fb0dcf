"""The HA rules: each has an id, a one-line reason, and finds what breaks it in a topology."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deployer.checks.explain import analyse
from deployer.checks.findings import CheckReport, Finding, Severity
from deployer.sizing import app_capacity, reference_for
from deployer.topology.model import Platform, Role, StorageType, Topology
from deployer.topology.source import KeyPath

Hit = tuple[str, KeyPath]
Check = Callable[[Topology, Path | None], Iterator[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    why: str
    check: Check
    acceptable: bool = True


RULES: list[Rule] = []


def rule(rule_id: str, severity: Severity, why: str, *, acceptable: bool = True) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        RULES.append(Rule(rule_id, severity, why, check, acceptable))
        return check

    return register


def _host_index(topology: Topology, name: str) -> int:
    return next(i for i, h in enumerate(topology.hosts) if h.name == name)


def _host_indexes(topology: Topology) -> dict[str, int]:
    return {h.name: i for i, h in reversed(list(enumerate(topology.hosts)))}


def _vm(topology: Topology) -> bool:
    return topology.platform is Platform.VM


# --- identity and addressing -------------------------------------------------------------


@rule(
    "unique-host-names",
    Severity.ERROR,
    "two hosts with one name cannot both be addressed",
    acceptable=False,
)
def _unique_names(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    seen: set[str] = set()
    for i, host in enumerate(topology.hosts):
        if host.name in seen:
            yield (
                f"host name '{host.name}' is used twice; names must be unique",
                ("hosts", i, "name"),
            )
        seen.add(host.name)


@rule(
    "unique-addresses",
    Severity.ERROR,
    "two hosts on one address make one of them unreachable",
    acceptable=False,
)
def _unique_addresses(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    seen: dict[str, str] = {}
    for i, host in enumerate(topology.hosts):
        addr = str(host.address)
        if addr in seen:
            yield (
                f"address {addr} of '{host.name}' is already used by '{seen[addr]}'",
                ("hosts", i, "address"),
            )
        seen.setdefault(addr, host.name)
    vip = topology.loadbalancer.vip
    if vip is not None and str(vip) in seen:
        yield (
            f"the VIP {vip} is also the address of '{seen[str(vip)]}'; the VIP needs its own address",
            ("loadbalancer", "vip"),
        )


@rule(
    "address-in-subnet",
    Severity.ERROR,
    "hosts outside the cluster network cannot reach each other",
    acceptable=False,
)
def _in_subnet(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    net = topology.network.subnet
    reserved = {net.network_address, net.broadcast_address}
    for i, host in enumerate(topology.hosts):
        if host.address not in net:
            yield (
                f"{host.name}'s address {host.address} is outside the subnet {net}",
                ("hosts", i, "address"),
            )
        elif host.address in reserved:
            yield (
                f"{host.address} is the network or broadcast address of {net}",
                ("hosts", i, "address"),
            )
    vip = topology.loadbalancer.vip
    if vip is not None and vip not in net:
        yield f"the VIP {vip} is outside the subnet {net}", ("loadbalancer", "vip")


# --- application tier --------------------------------------------------------------------


@rule(
    "cluster-name",
    Severity.ERROR,
    "an empty ClusterName silently breaks messaging between app nodes",
    acceptable=False,
)
def _cluster_name(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if not topology.mattermost.cluster_name.strip():
        yield (
            "mattermost.cluster_name is empty: nodes would not find each other while HTTP looks fine",
            ("mattermost", "cluster_name"),
        )


def _app_count(topology: Topology) -> int:
    if topology.platform is Platform.KUBERNETES and topology.kubernetes is not None:
        return topology.kubernetes.app_replicas
    return len(topology.with_role(Role.APP))


@rule(
    "edition-clustering",
    Severity.WARNING,
    "only enterprise editions cluster; other editions lose real-time messages between nodes",
)
def _edition(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    edition = topology.mattermost.edition
    if _app_count(topology) > 1 and not edition.supports_clustering:
        yield (
            (
                f"{_app_count(topology)} app nodes but edition '{edition}' does not support "
                "clustering: real-time messages between nodes WILL BE LOST; use enterprise"
            ),
            ("mattermost", "edition"),
        )


@rule(
    "license-file",
    Severity.WARNING,
    "high availability is an Enterprise feature and needs its license",
)
def _license(topology: Topology, root: Path | None) -> Iterator[Hit]:
    # The file itself is read (and its absence reported) by the deploy, which needs it.
    del root
    if _app_count(topology) > 1 and topology.mattermost.license_file is None:
        yield (
            (
                "no mattermost.license_file: without a license the cluster loses real-time messages "
                "between nodes"
            ),
            ("mattermost",),
        )


@rule("app-redundancy", Severity.ERROR, "one app node is a single point of failure")
def _app_redundancy(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    count = _app_count(topology)
    where: KeyPath = ("kubernetes", "app_replicas") if not _vm(topology) else ("hosts",)
    if count < 2:  # noqa: PLR2004 - the rule's own threshold
        yield f"{count} app node(s); at least 2 are needed for high availability", where


@rule(
    "app-capacity",
    Severity.WARNING,
    "fewer app nodes than the reference architecture for the user count",
)
def _app_capacity(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    users = topology.mattermost.users
    ref = reference_for(users)
    count = _app_count(topology)
    if count and app_capacity(users, count) < users:
        yield (
            (
                f"{count} app node(s) carry about {app_capacity(users, count)} of {users} users; "
                f"the reference architecture for {ref.users} users uses {ref.app_nodes} "
                f"({ref.app_vcpu} vCPU / {ref.app_mem_gib} GiB each)"
            ),
            ("mattermost", "users"),
        )


@rule("site-url-https", Severity.WARNING, "users reach Mattermost only over HTTPS")
def _https(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if not topology.mattermost.site_url.startswith("https://"):
        yield (
            "site_url is not https://; the load balancers terminate TLS",
            ("mattermost", "site_url"),
        )


# --- database and DCS --------------------------------------------------------------------


@rule("db-failover", Severity.ERROR, "automatic failover needs a second database member to promote")
def _db_failover(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if not _vm(topology):
        return
    count = len(topology.with_role(Role.DATABASE))
    if count == 0:
        return
    if count < 2:  # noqa: PLR2004
        yield (
            f"{count} database member(s); at least 2 are needed for automatic failover",
            ("hosts",),
        )


@rule("db-required", Severity.ERROR, "Mattermost needs PostgreSQL", acceptable=False)
def _db_required(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if _vm(topology) and not topology.with_role(Role.DATABASE):
        yield "no host has the 'database' role", ("hosts",)
    if _vm(topology) and not topology.with_role(Role.APP):
        yield "no host has the 'app' role", ("hosts",)


@rule(
    "db-sync-quorum",
    Severity.ERROR,
    "synchronous replication needs a leader and two standbys to lose none",
)
def _db_sync(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    count = len(topology.with_role(Role.DATABASE))
    if _vm(topology) and topology.database.synchronous_replication and 0 < count < 3:  # noqa: PLR2004
        yield (
            (
                f"synchronous replication with {count} database member(s); use at least 3 so a "
                "synchronous standby remains after a failover"
            ),
            ("database", "synchronous_replication"),
        )


@rule("etcd-required", Severity.ERROR, "Patroni needs etcd to elect a leader", acceptable=False)
def _etcd_required(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if _vm(topology) and topology.with_role(Role.DATABASE) and not topology.with_role(Role.ETCD):
        yield "database hosts but no 'etcd' host: Patroni has no DCS", ("hosts",)


@rule(
    "etcd-quorum",
    Severity.ERROR,
    "etcd keeps quorum through one loss only with an odd count of 3 or more",
)
def _etcd_quorum(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    count = len(topology.with_role(Role.ETCD))
    if count and (count < 3 or count % 2 == 0):  # noqa: PLR2004
        yield f"{count} etcd member(s); use an odd number, at least 3", ("hosts",)


@rule("etcd-zone-majority", Severity.ERROR, "a zone holding an etcd majority takes quorum with it")
def _etcd_zones(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    members = topology.with_role(Role.ETCD)
    if len(members) < 3:  # noqa: PLR2004 - etcd-quorum reports that case
        return
    quorum = len(members) // 2 + 1
    for zone, count in sorted(Counter(h.zone for h in members).items()):
        if count >= quorum:
            yield (
                (
                    f"zone '{zone}' holds {count} of {len(members)} etcd members (quorum {quorum}): "
                    "losing it stops database failover"
                ),
                (
                    "hosts",
                    _host_index(topology, next(h.name for h in members if h.zone == zone)),
                    "zone",
                ),
            )


# --- load balancers ----------------------------------------------------------------------


@rule("lb-redundancy", Severity.ERROR, "one load balancer is a single point of failure")
def _lb(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if not _vm(topology) or topology.loadbalancer.external:
        return
    count = len(topology.with_role(Role.LOADBALANCER))
    if count < 2:  # noqa: PLR2004
        yield (
            f"{count} load balancer(s); use 2 sharing a VIP, or declare loadbalancer.external: true",
            ("hosts",),
        )


@rule(
    "lb-vip",
    Severity.ERROR,
    "clients need one address that survives a load balancer's loss",
    acceptable=False,
)
def _vip(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    lbs = topology.with_role(Role.LOADBALANCER)
    if _vm(topology) and lbs and not topology.loadbalancer.external and topology.loadbalancer.vip is None:
        yield (
            "load balancers without loadbalancer.vip; add a free address of the subnet",
            ("loadbalancer",),
        )
    if _vm(topology) and not lbs and not topology.loadbalancer.external:
        yield "no host has the 'loadbalancer' role and loadbalancer.external is false", ("hosts",)


@rule(
    "tls-pair",
    Severity.ERROR,
    "a certificate is useless without its key, and the other way round",
    acceptable=False,
)
def _tls(topology: Topology, root: Path | None) -> Iterator[Hit]:
    lb = topology.loadbalancer
    if (lb.tls_certificate is None) != (lb.tls_key is None):
        yield (
            "give both loadbalancer.tls_certificate and loadbalancer.tls_key, or neither",
            ("loadbalancer",),
        )
    for key in ("tls_certificate", "tls_key"):
        value = getattr(lb, key)
        if value is not None and root is not None:
            path = Path(value) if Path(value).is_absolute() else root / value
            if not path.is_file():
                yield f"{key} file {path} does not exist", ("loadbalancer", key)


# --- storage -----------------------------------------------------------------------------


@rule("storage-replication", Severity.ERROR, "one copy of a file is lost with its disk")
def _storage_replication(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    storage = topology.storage
    if storage.type is not StorageType.S3 or not _vm(topology):
        return
    hosts = topology.with_role(Role.STORAGE)
    if storage.replication < 2:  # noqa: PLR2004
        yield (
            f"storage.replication is {storage.replication}; keep at least 2 copies",
            ("storage", "replication"),
        )
    if len(hosts) < storage.replication:
        yield (
            f"{len(hosts)} storage host(s) cannot hold {storage.replication} copies",
            ("storage", "replication"),
        )


@rule(
    "storage-masters",
    Severity.ERROR,
    "SeaweedFS masters keep a raft quorum through one loss only with 3",
)
def _storage_masters(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if topology.storage.type is StorageType.S3 and _vm(topology):
        count = len(topology.with_role(Role.STORAGE))
        if count == 0:
            yield "storage type s3 but no host has the 'storage' role", ("storage", "type")
        elif count < 3:  # noqa: PLR2004
            yield (
                f"{count} storage host(s); SeaweedFS needs 3 masters for a raft quorum",
                ("hosts",),
            )


@rule("storage-spread", Severity.ERROR, "copies in one failure domain die together")
def _storage_spread(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if topology.storage.type is not StorageType.S3 or not _vm(topology):
        return
    hosts = topology.with_role(Role.STORAGE)
    domains = {topology.storage_domain(h) for h in hosts}
    if hosts and len(domains) < topology.storage.replication:
        yield (
            (
                f"storage hosts span {len(domains)} failure domain(s) but keep "
                f"{topology.storage.replication} copies; spread them over distinct zones or racks"
            ),
            ("storage", "replication"),
        )


@rule(
    "storage-shared",
    Severity.ERROR,
    "app nodes must share one file store or files get corrupted",
    acceptable=False,
)
def _storage_shared(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if topology.storage.type is StorageType.LOCAL and _app_count(topology) > 1:
        yield (
            (
                "storage.type local with several app nodes: each would see different files; "
                "use s3 (replicated) or nfs"
            ),
            ("storage", "type"),
        )
    if topology.storage.type is StorageType.NFS and not (
        topology.storage.nfs_server and topology.storage.nfs_export
    ):
        yield "storage.type nfs needs storage.nfs_server and storage.nfs_export", ("storage",)


@rule(
    "storage-size",
    Severity.WARNING,
    "upstream supports local file storage only below about 2,000 users",
)
def _storage_size(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if topology.storage.type is not StorageType.S3 and topology.mattermost.users > 2000:  # noqa: PLR2004
        yield (
            f"{topology.storage.type} storage for {topology.mattermost.users} users; use s3",
            ("storage", "type"),
        )


# --- spread and the analysis -------------------------------------------------------------

TIERS = (Role.APP, Role.DATABASE, Role.ETCD, Role.LOADBALANCER, Role.STORAGE)


@rule("tier-spread", Severity.ERROR, "a tier inside one failure domain dies with it")
def _tier_spread(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if not _vm(topology):
        return
    for role in TIERS:
        hosts = topology.with_role(role)
        zones = {h.zone for h in hosts}
        if hosts and len(zones) < 2:  # noqa: PLR2004
            yield (
                f"every {role} host is in zone '{next(iter(zones))}'; spread over at least 2 zones",
                ("hosts",),
            )


@rule("platform-sections", Severity.ERROR, "each platform needs its own section", acceptable=False)
def _platform(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    if topology.platform is Platform.KUBERNETES and topology.kubernetes is None:
        yield "platform kubernetes needs a 'kubernetes' section", ("platform",)
    if topology.platform is Platform.VM and not topology.hosts:
        yield "platform vm needs at least one host under 'hosts'", ("hosts",)
    k8s = topology.kubernetes
    if topology.platform is Platform.KUBERNETES and k8s is not None and len(k8s.zones) < 2:  # noqa: PLR2004
        yield (
            "kubernetes.zones lists one zone; app pods should spread over 2 or more",
            ("kubernetes", "zones"),
        )


@rule("spof", Severity.ERROR, "no single host or failure domain may take the service down")
def _spof(topology: Topology, root: Path | None) -> Iterator[Hit]:
    del root
    names = [h.name for h in topology.hosts]
    if len(names) != len(set(names)):  # unique-host-names reports it; losses would be ambiguous
        return
    analysis = analyse(topology)
    index = _host_indexes(topology)
    for spof in analysis.spofs:
        path: KeyPath = ("hosts",)
        if spof.kind == "host":
            path = ("hosts", index[spof.target])
        yield (
            f"losing {spof.kind} '{spof.target}' stops: {', '.join(spof.services_down)}",
            path,
        )


# --- accepted risks ----------------------------------------------------------------------

RULE_IDS = {r.id for r in RULES}


def run_checks(topology: Topology, root: Path | None = None) -> CheckReport:
    """Apply every rule; accepted risks downgrade their rule's findings to 'accepted'."""
    report = CheckReport(topology.name)
    fired: set[str] = set()
    rules = {r.id: r for r in RULES}
    for i, risk in enumerate(topology.accepted_risks):
        target = rules.get(risk.rule)
        if target is None:
            acceptable = sorted(r.id for r in RULES if r.acceptable)
            close = difflib.get_close_matches(risk.rule, acceptable, n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            report.findings.append(
                Finding(
                    "accepted-risk",
                    Severity.ERROR,
                    f"accepted risk names an unknown rule '{risk.rule}'; {guess}"
                    f"rules that can be accepted: {', '.join(acceptable)}",
                    ("accepted_risks", i, "rule"),
                )
            )
        elif not target.acceptable:
            report.findings.append(
                Finding(
                    "accepted-risk",
                    Severity.ERROR,
                    f"rule '{risk.rule}' guards against a broken deployment, not a risk; "
                    "it cannot be accepted",
                    ("accepted_risks", i, "rule"),
                )
            )
    for item in RULES:
        accepted = topology.accepted(item.id) if item.acceptable else None
        for message, path in item.check(topology, root):
            fired.add(item.id)
            reason = accepted.reason if accepted else None
            report.findings.append(Finding(item.id, item.severity, message, path, reason))
    for i, unused in enumerate(topology.accepted_risks):
        if unused.rule in rules and rules[unused.rule].acceptable and unused.rule not in fired:
            report.findings.append(
                Finding(
                    "accepted-risk",
                    Severity.WARNING,
                    f"risk '{unused.rule}' is accepted but the rule passes; remove the acceptance",
                    ("accepted_risks", i),
                )
            )
    return report
