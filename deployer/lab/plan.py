"""Pure lab planning: names, labels, addresses, rehearsal subnets and clash checks, without Docker."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pydantic import BaseModel, ConfigDict

from deployer.lab.errors import LabClashError, LabError, LabNotUpError
from deployer.topology.model import Role, Topology

LABEL_ENV = "deployer.lab.env"
LABEL_HOST = "deployer.lab.host"
LABEL_SOURCE = "deployer.lab.source"
PREFIX = "dpl"

# Every lab subnet lives in one /16 that real sites are unlikely to use; the sample inventories
# and the tests take 10.213.0-15 by hand, rehearsals (--lab) get the rest, one /24 each.
LAB_RANGE = IPv4Network("10.213.0.0/16")
HAND_PICKED = IPv4Network("10.213.0.0/20")
FIRST_REHEARSAL_SLOT = 16
REHEARSAL_SLOTS = 256 - FIRST_REHEARSAL_SLOT
# When real addresses cannot keep their host part, hosts are numbered from here and the VIP
# sits just below, as in the sample inventories.
FIRST_HOST_OFFSET = 11
VIP_OFFSET = 10


class LabHost(BaseModel):
    """One lab host: a topology host, at its lab address, in its container."""

    model_config = ConfigDict(frozen=True)

    name: str
    address: IPv4Address
    zone: str
    roles: list[Role]
    container: str
    real_address: IPv4Address | None = None


class LabPlan(BaseModel):
    """Everything `lab up` creates for one environment; saved so later commands find it."""

    model_config = ConfigDict(frozen=True)

    env: str
    subnet: IPv4Network
    hosts: list[LabHost]
    vip: IPv4Address | None = None
    rehearsal: bool = False
    source: str = ""

    @property
    def network(self) -> str:
        return network_name(self.env)

    @property
    def gateway(self) -> IPv4Address:
        """Docker gives the machine's bridge the first address; hosts must not take it."""
        return self.subnet.network_address + 1

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise LabNotUpError(f"environment '{self.env}' has no host '{name}'", hint=f"its hosts are: {known}")


def network_name(env: str) -> str:
    return f"{PREFIX}-{env}"


def container_name(env: str, host: str) -> str:
    return f"{PREFIX}-{env}-{host}"


def volume_name(env: str, host: str) -> str:
    return f"{PREFIX}-{env}-{host}-data"


def env_label(env: str) -> str:
    return f"{LABEL_ENV}={env}"


def plan_for(topology: Topology, source: str = "") -> LabPlan:
    """The lab as the topology writes it: its own subnet and addresses."""
    if not topology.hosts:
        raise LabError(f"environment '{topology.name}' has no hosts", hint="add hosts to its topology")
    if not _inside(topology.network.subnet, LAB_RANGE):
        raise LabError(
            f"environment '{topology.name}' uses {topology.network.subnet}, outside the lab range "
            f"{LAB_RANGE}; its addresses look real, and the lab never routes real networks",
            hint=f"rehearse it with `deployer lab up --lab -e {topology.name}`, which maps each "
            "host to a lab address",
        )
    plan = LabPlan(
        env=topology.name,
        subnet=topology.network.subnet,
        vip=topology.loadbalancer.vip,
        source=source,
        hosts=[
            LabHost(
                name=h.name,
                address=h.address,
                zone=h.zone,
                roles=list(h.roles),
                container=container_name(topology.name, h.name),
            )
            for h in topology.hosts
        ],
    )
    check_addresses(plan)
    return plan


def rehearsal_plan(
    topology: Topology, taken: Iterable[IPv4Network], current: IPv4Network | None, source: str = ""
) -> LabPlan:
    """The lab for an inventory with real addresses: same hosts, mapped into a lab subnet."""
    subnet = current or rehearsal_subnet(topology.name, taken)
    real = [h.address for h in topology.hosts]
    vip = topology.loadbalancer.vip
    mapped, mapped_vip = map_addresses(real, vip, topology.network.subnet, subnet)
    plan = LabPlan(
        env=topology.name,
        subnet=subnet,
        vip=mapped_vip,
        rehearsal=True,
        source=source,
        hosts=[
            LabHost(
                name=h.name,
                address=address,
                zone=h.zone,
                roles=list(h.roles),
                container=container_name(topology.name, h.name),
                real_address=h.address,
            )
            for h, address in zip(topology.hosts, mapped, strict=True)
        ],
    )
    check_addresses(plan)
    return plan


def rehearsal_subnet(env: str, taken: Iterable[IPv4Network]) -> IPv4Network:
    """A /24 for `env` from the rehearsal slots: the same for the same name, never a taken one.

    The slot comes from a hash of the name, so a name keeps its subnet across machines and
    runs; when that slot overlaps anything taken (another environment's network, a route of
    this machine) the next free slot is used.
    """
    blocked = [*taken, HAND_PICKED]
    start = int.from_bytes(hashlib.sha256(env.encode()).digest()[:4], "big") % REHEARSAL_SLOTS
    base = int(LAB_RANGE.network_address)
    for step in range(REHEARSAL_SLOTS):
        slot = FIRST_REHEARSAL_SLOT + (start + step) % REHEARSAL_SLOTS
        candidate = IPv4Network((base + slot * 256, 24))
        if not any(candidate.overlaps(other) for other in blocked):
            return candidate
    raise LabClashError(
        f"every rehearsal subnet in {LAB_RANGE} is taken",
        hint="remove lab environments you no longer need with `deployer lab down -e ENV`",
    )


def map_addresses(
    real: Sequence[IPv4Address],
    vip: IPv4Address | None,
    real_subnet: IPv4Network,
    lab_subnet: IPv4Network,
) -> tuple[list[IPv4Address], IPv4Address | None]:
    """Keep each address's host part when all fit the lab /24 uniquely; else number them in order.

    Keeping the host part lets a user recognise 10.20.5.31 as 10.213.77.31 in the lab.
    """
    wanted = [*real, *([vip] if vip else [])]
    offsets = [int(a) - int(real_subnet.network_address) for a in wanted]
    usable = range(2, lab_subnet.num_addresses - 1)  # not the network, the gateway, broadcast
    if all(o in usable for o in offsets) and len(set(offsets)) == len(offsets):
        moved = [lab_subnet.network_address + o for o in offsets]
    else:
        if len(real) > lab_subnet.num_addresses - 1 - FIRST_HOST_OFFSET:
            raise LabError(
                f"{len(real)} hosts do not fit one lab subnet ({lab_subnet})",
                hint="rehearse a smaller part of the topology",
            )
        moved = [lab_subnet.network_address + FIRST_HOST_OFFSET + i for i in range(len(real))]
        if vip:
            moved.append(lab_subnet.network_address + VIP_OFFSET)
    return moved[: len(real)], (moved[-1] if vip else None)


def remap_topology(topology: Topology, plan: LabPlan) -> Topology:
    """The topology as the lab runs it: what `deploy` should use to rehearse into the lab."""
    hosts = [h.model_copy(update={"address": plan.host(h.name).address}) for h in topology.hosts]
    return topology.model_copy(
        update={
            "network": topology.network.model_copy(update={"subnet": plan.subnet}),
            "hosts": hosts,
            "loadbalancer": topology.loadbalancer.model_copy(update={"vip": plan.vip}),
        }
    )


def check_addresses(plan: LabPlan) -> None:
    """Addresses Docker would refuse, caught before anything is created."""
    seen: dict[IPv4Address, str] = {}
    for host in plan.hosts:
        if host.address not in plan.subnet:
            raise LabError(f"host {host.name} ({host.address}) lies outside {plan.subnet}")
        if host.address == plan.gateway:
            raise LabClashError(
                f"host {host.name} has {host.address}, the lab network's gateway (the machine's "
                "own address on the bridge)",
                hint=f"give {host.name} another address; {plan.gateway} is reserved in the lab",
            )
        if host.address in seen:
            raise LabClashError(
                f"hosts {seen[host.address]} and {host.name} share {host.address}",
                hint="give every host its own address",
            )
        seen[host.address] = host.name
    if plan.vip is not None and plan.vip in seen:
        raise LabClashError(
            f"the VIP {plan.vip} is also host {seen[plan.vip]}'s address",
            hint="the VIP must be an address no host holds",
        )


@dataclass(frozen=True)
class Occupant:
    """Something on this machine holding a subnet: a Docker network or a route."""

    what: str
    subnet: IPv4Network
    env: str | None = None


def subnet_clash(plan: LabPlan, occupants: Iterable[Occupant]) -> None:
    """Refuse a subnet that overlaps anything but this environment's own lab network."""
    for other in occupants:
        if other.env == plan.env and other.what == f"Docker network {plan.network}":
            if other.subnet != plan.subnet:
                raise LabClashError(
                    f"{other.what} already exists with subnet {other.subnet}, but environment "
                    f"'{plan.env}' now wants {plan.subnet}",
                    hint=f"recreate it: `deployer lab down -e {plan.env}` then `lab up` again",
                )
            continue
        if plan.subnet.overlaps(other.subnet):
            owner = f" (lab environment '{other.env}')" if other.env else ""
            raise LabClashError(
                f"subnet {plan.subnet} of environment '{plan.env}' overlaps {other.what}"
                f"{owner} with {other.subnet}",
                hint="give one of them another subnet, or remove the other network "
                "(`deployer lab down -e ENV` for a lab environment)",
            )


# systemd, dbus and journald of one host hold about six inotify instances, all counted against
# root's single limit on the machine; a margin keeps room for the services roles install.
INOTIFY_PER_HOST = 8


def check_inotify(limit: int, hosts: int) -> None:
    """Refuse to start more hosts than the machine's inotify limit can carry."""
    needed = hosts * INOTIFY_PER_HOST
    if limit < needed:
        raise LabError(
            f"{hosts} lab hosts need about {needed} inotify instances, but this machine allows "
            f"{limit} (fs.inotify.max_user_instances); hosts would come up with failed units",
            hint="raise it with `sysctl -w fs.inotify.max_user_instances=1024` (or run "
            "`make lab-prereqs`), or take other labs down first",
        )


def parse_proc_routes(text: str) -> list[tuple[str, IPv4Network]]:
    """(device, network) of each IPv4 route in /proc/net/route, leaving out the default route."""
    routes: list[tuple[str, IPv4Network]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:  # noqa: PLR2004 - Iface, Destination, ..., Mask
            continue
        dest = IPv4Address(int.from_bytes(bytes.fromhex(fields[1]), "little"))
        mask = IPv4Address(int.from_bytes(bytes.fromhex(fields[7]), "little"))
        network = IPv4Network(f"{dest}/{mask}", strict=False)
        if network.prefixlen > 0:
            routes.append((fields[0], network))
    return routes


def _inside(subnet: IPv4Network, outer: IPv4Network) -> bool:
    return subnet.subnet_of(outer)
