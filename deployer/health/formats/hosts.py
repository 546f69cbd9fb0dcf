"""Each host of the topology with the worst status any check gave it, for pictures and host tables."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.health.model import HealthReport, Status
from deployer.topology.model import Topology

# Worst first: a host shows the worst status any result about it has.
SEVERITY = {Status.FAIL: 3, Status.WARN: 2, Status.OK: 1, Status.SKIP: 0}
# Checks about the whole cluster's future, not about a host as it is now.
NOT_ABOUT_HOSTS = frozenset({"failover"})


@dataclass(frozen=True)
class HostView:
    name: str
    address: str
    zone: str
    rack: str
    roles: tuple[str, ...]
    status: Status
    problems: tuple[str, ...]


def host_views(topology: Topology, report: HealthReport) -> list[HostView]:
    """Hosts in topology order; a result is about a host when its target starts with the host's name."""
    found: dict[str, list[tuple[Status, str]]] = {h.name: [] for h in topology.hosts}
    for check in report.checks:
        if check.name in NOT_ABOUT_HOSTS:
            continue
        for result in check.results:
            name = result.target.split(" ", 1)[0]
            if name in found:
                found[name].append((result.status, f"{check.name}: {result.summary}"))
    views = []
    for host in topology.hosts:
        seen = found[host.name]
        worst = max((s for s, _ in seen), key=SEVERITY.__getitem__, default=Status.SKIP)
        problems = tuple(text for s, text in seen if s in {Status.FAIL, Status.WARN})
        views.append(
            HostView(
                host.name,
                str(host.address),
                host.zone,
                host.rack or "",
                tuple(str(r) for r in host.roles),
                worst,
                problems,
            )
        )
    return views


def by_zone(hosts: list[HostView] | tuple[HostView, ...]) -> dict[str, list[HostView]]:
    zones: dict[str, list[HostView]] = {}
    for host in sorted(hosts, key=lambda h: (h.zone, h.rack)):
        zones.setdefault(host.zone, []).append(host)
    return zones
