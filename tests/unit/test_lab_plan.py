"""Lab planning without Docker: subnets, address mapping, clash checks and route parsing."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from deployer.lab.errors import LabClashError, LabError
from deployer.lab.plan import (
    HAND_PICKED,
    LAB_RANGE,
    Occupant,
    check_inotify,
    container_name,
    map_addresses,
    network_name,
    parse_proc_routes,
    plan_for,
    rehearsal_plan,
    rehearsal_subnet,
    remap_topology,
    subnet_clash,
)
from deployer.topology import Topology, load_environment

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("dev", "staging", "prod")


def sample(env: str) -> Topology:
    return load_environment(inventory=str(ROOT / "inventories" / env)).topology


def labtest() -> Topology:
    return load_environment(inventory=str(ROOT / "tests" / "data" / "lab")).topology


def real_site() -> Topology:
    """Staging as a user's site would write it: real addresses in 10.20.5.0/24."""
    topo = sample("staging")
    base = IPv4Network("10.20.5.0/24").network_address
    hosts = [h.model_copy(update={"address": base + (int(h.address) & 0xFF)}) for h in topo.hosts]
    return topo.model_copy(
        update={
            "name": "acme",
            "network": topo.network.model_copy(update={"subnet": IPv4Network("10.20.5.0/24")}),
            "hosts": hosts,
            "loadbalancer": topo.loadbalancer.model_copy(update={"vip": base + 10}),
        }
    )


def test_sample_and_test_subnets_are_hand_picked_and_disjoint() -> None:
    subnets = [sample(env).network.subnet for env in SAMPLES]
    subnets.append(labtest().network.subnet)
    for subnet in subnets:
        assert subnet.subnet_of(HAND_PICKED)
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            assert not a.overlaps(b)


@pytest.mark.parametrize("env", SAMPLES)
def test_sample_plans_keep_topology_addresses(env: str) -> None:
    topo = sample(env)
    plan = plan_for(topo)
    assert plan.subnet == topo.network.subnet
    assert [h.address for h in plan.hosts] == [h.address for h in topo.hosts]
    assert plan.network == f"dpl-{env}"
    assert all(h.container == container_name(env, h.name) for h in plan.hosts)
    assert not plan.rehearsal


def test_staging_has_nine_or_more_hosts() -> None:
    assert len(plan_for(sample("staging")).hosts) >= 9


def test_real_addresses_are_refused_without_rehearsal() -> None:
    with pytest.raises(LabError, match="look real") as caught:
        plan_for(real_site())
    assert "--lab" in caught.value.hint


def test_host_on_the_gateway_is_a_clash() -> None:
    topo = labtest()
    first = topo.hosts[0].model_copy(update={"address": IPv4Address("10.213.9.1")})
    broken = topo.model_copy(update={"hosts": [first, *topo.hosts[1:]]})
    with pytest.raises(LabClashError, match="gateway"):
        plan_for(broken)


def test_rehearsal_subnet_is_stable_and_outside_hand_picked() -> None:
    first = rehearsal_subnet("acme", [])
    assert first == rehearsal_subnet("acme", [])
    assert first.subnet_of(LAB_RANGE)
    assert not first.overlaps(HAND_PICKED)
    assert first.prefixlen == 24


def test_rehearsal_subnet_never_collides_with_samples_or_each_other() -> None:
    taken = [sample(env).network.subnet for env in SAMPLES]
    chosen: list[IPv4Network] = []
    for i in range(60):
        subnet = rehearsal_subnet(f"site-{i}", [*taken, *chosen])
        assert not any(subnet.overlaps(t) for t in taken)
        assert subnet not in chosen
        chosen.append(subnet)


def test_rehearsal_subnet_moves_on_when_its_slot_is_taken() -> None:
    first = rehearsal_subnet("acme", [])
    second = rehearsal_subnet("acme", [first])
    assert second != first
    # A wide route of this machine covering several slots is skipped as a whole.
    wide = IPv4Network(f"{first.network_address}/22", strict=False)
    assert not rehearsal_subnet("acme", [wide]).overlaps(wide)


def test_rehearsal_subnet_exhaustion_is_reported() -> None:
    with pytest.raises(LabClashError, match="taken"):
        rehearsal_subnet("acme", [LAB_RANGE])


def test_map_addresses_keeps_host_parts() -> None:
    real = [IPv4Address("192.168.7.21"), IPv4Address("192.168.7.22")]
    moved, vip = map_addresses(
        real, IPv4Address("192.168.7.10"), IPv4Network("192.168.7.0/24"), IPv4Network("10.213.40.0/24")
    )
    assert moved == [IPv4Address("10.213.40.21"), IPv4Address("10.213.40.22")]
    assert vip == IPv4Address("10.213.40.10")


def test_map_addresses_numbers_hosts_when_parts_do_not_fit() -> None:
    # A /16 site: host parts beyond 255 and the .1 gateway cannot be kept.
    real = [IPv4Address("172.16.4.1"), IPv4Address("172.16.9.1")]
    moved, vip = map_addresses(real, None, IPv4Network("172.16.0.0/16"), IPv4Network("10.213.40.0/24"))
    assert moved == [IPv4Address("10.213.40.11"), IPv4Address("10.213.40.12")]
    assert vip is None


def test_rehearsal_plan_and_remapped_topology_agree() -> None:
    site = real_site()
    plan = rehearsal_plan(site, [sample(env).network.subnet for env in SAMPLES], None)
    assert plan.rehearsal
    assert plan.subnet == rehearsal_subnet("acme", [])
    for host, real in zip(plan.hosts, site.hosts, strict=True):
        assert host.real_address == real.address
        assert host.address in plan.subnet
        assert int(host.address) & 0xFF == int(real.address) & 0xFF
    lab = remap_topology(site, plan)
    assert lab.network.subnet == plan.subnet
    assert lab.loadbalancer.vip == plan.vip
    assert [h.address for h in lab.hosts] == [h.address for h in plan.hosts]
    assert site.hosts[0].address == IPv4Address("10.20.5.11")  # the original is untouched


def test_rehearsal_keeps_the_subnet_it_already_has() -> None:
    current = IPv4Network("10.213.200.0/24")
    assert rehearsal_plan(real_site(), [], current).subnet == current


def test_subnet_clash_names_the_other_network() -> None:
    plan = plan_for(sample("staging"))
    other = Occupant("Docker network kube", IPv4Network("10.213.0.0/16"))
    with pytest.raises(LabClashError, match=r"overlaps Docker network kube with 10\.213\.0\.0/16"):
        subnet_clash(plan, [other])


def test_subnet_clash_names_the_other_lab() -> None:
    plan = plan_for(sample("staging"))
    other = Occupant("Docker network dpl-acme", IPv4Network("10.213.2.0/24"), "acme")
    with pytest.raises(LabClashError, match="lab environment 'acme'"):
        subnet_clash(plan, [other])


def test_own_network_is_no_clash_unless_its_subnet_changed() -> None:
    plan = plan_for(sample("staging"))
    own = Occupant(f"Docker network {network_name('staging')}", plan.subnet, "staging")
    subnet_clash(plan, [own])
    moved = Occupant(f"Docker network {network_name('staging')}", IPv4Network("10.213.7.0/24"), "staging")
    with pytest.raises(LabClashError, match="now wants"):
        subnet_clash(plan, [moved])


def test_machine_route_clash() -> None:
    plan = plan_for(sample("dev"))
    route = Occupant("this machine's route via eth1", IPv4Network("10.213.1.0/24"))
    with pytest.raises(LabClashError, match="eth1"):
        subnet_clash(plan, [route])


def test_inotify_limit_is_checked_before_hosts_start() -> None:
    check_inotify(1024, 15)
    with pytest.raises(LabError, match="max_user_instances") as caught:
        check_inotify(128, 26)  # prod and staging together on a default kernel
    assert "make lab-prereqs" in caught.value.hint


def test_parse_proc_routes_leaves_out_the_default_route() -> None:
    text = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        "br-1\t0002D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert parse_proc_routes(text) == [
        ("eth0", IPv4Network("172.17.0.0/16")),
        ("br-1", IPv4Network("10.213.2.0/24")),
    ]
