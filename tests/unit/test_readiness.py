"""Live failover readiness: the topology's loss analysis fed with what is already broken right now."""

from __future__ import annotations

from typing import Any

import pytest

from deployer.health import readiness
from deployer.health.model import CheckReport, HealthReport, Result, Status
from deployer.topology import load_environment
from deployer.topology.model import Role, Topology


@pytest.fixture(scope="module")
def staging() -> Topology:
    return load_environment("staging").topology


def member(name: str, role: str, state: str = "streaming", **extra: Any) -> Result:
    status = Status.FAIL if extra.pop("failed", False) else Status.OK
    details = {"name": name, "role": role, "state": state, "host": "", **extra}
    return Result(f"{name} (x)", status, f"{role}, {state}", details)


def healthy_members() -> list[Result]:
    return [
        member("stg-db1", "leader", "running"),
        member("stg-db2", "sync_standby"),
        member("stg-db3", "replica"),
    ]


def report(*checks: tuple[str, list[Result]]) -> HealthReport:
    return HealthReport("staging", [CheckReport(name, name, results, 0.0) for name, results in checks], 0.0)


def verdicts(topology: Topology, rep: HealthReport) -> dict[str, readiness.Verdict]:
    found = readiness.assess(topology, readiness.live_state(topology, rep))
    return {f"{v.kind} {v.target}": v for v in found.verdicts}


def test_a_healthy_staging_survives_every_single_loss(staging: Topology) -> None:
    found = verdicts(staging, report(("database", healthy_members())))
    assert all(v.survives for v in found.values()), [v for v in found.values() if not v.survives]
    assert set(found) >= {"host stg-db1", "zone zone-a", "zone zone-c"}
    assert "stg-db2" in found["host stg-db1"].services[3].detail  # the sync standby takes over


def test_a_dead_standby_load_balancer_makes_the_vip_holder_a_single_point(staging: Topology) -> None:
    rep = report(
        ("database", healthy_members()),
        ("hosts", [Result.fail("stg-lb2", "no SSH: timed out")]),
    )
    found = verdicts(staging, rep)
    lb1 = found["host stg-lb1"]
    assert not lb1.survives
    assert lb1.by_design  # the topology alone would survive it
    assert lb1.reasons[0] == "load balancer: 0 of 2 load balancers left"
    result = readiness._result(lb1)
    assert result.status is Status.WARN
    assert "the topology would; live state does not" in result.summary
    # Losing the already dead host changes nothing.
    assert found["host stg-lb2"].survives


def test_a_lagging_replica_is_no_promotable_standby(staging: Topology) -> None:
    members = [
        member("stg-db1", "leader", "running"),
        member("stg-db2", "replica", promotable=False, why_not="lag 300 s > 30 s"),
        member("stg-db3", "replica", promotable=False, why_not="lag 280 s > 30 s"),
    ]
    found = verdicts(staging, report(("replication", members)))
    db1 = found["host stg-db1"]
    assert not db1.survives
    assert db1.reasons == (
        (
            "database writes: leader stg-db1 lost, no standby can take over: "
            "stg-db2 lag 300 s > 30 s; stg-db3 lag 280 s > 30 s"
        ),
    )
    assert found["zone zone-a"].survives is False
    # Losing a replica instead leaves the leader in place.
    assert found["host stg-db2"].survives


def test_synchronous_mode_promotes_only_the_synchronous_standby(staging: Topology) -> None:
    members = [
        member("stg-db1", "leader", "running"),
        member("stg-db2", "replica"),
        member("stg-db3", "replica"),
    ]
    found = verdicts(staging, report(("database", members)))
    assert not found["host stg-db1"].survives
    assert "stg-db2 is not the synchronous standby" in found["host stg-db1"].reasons[0]


def test_one_lost_etcd_member_leaves_no_room_for_another(staging: Topology) -> None:
    rep = report(
        ("database", healthy_members()),
        ("etcd", [Result.fail("stg-db3", "unhealthy: connection refused")]),
    )
    found = verdicts(staging, rep)
    # etcd on stg-db3 is gone but its database member lives: the split keeps the design's quorum size.
    etcd = next(s for s in found["host stg-db2"].services if s.name == "etcd")
    assert etcd.state.value == "down"
    assert etcd.detail == "1 of 3 members, below quorum 2"
    assert "database writes: etcd lost quorum" in " ".join(found["host stg-db2"].reasons)


def test_units_down_lose_only_that_role(staging: Topology) -> None:
    units = Result.fail("stg-st1", "seaweedfs-volume inactive", roles_down=["storage"])
    live = readiness.live_state(staging, report(("units", [units])))
    assert live.lost_roles == {("stg-st1", Role.STORAGE): "seaweedfs-volume inactive"}
    shaped, lost = readiness.split_topology(staging, live)
    assert [h.name for h in lost] == ["stg-st1#storage"]
    assert len(shaped.hosts) == len(staging.hosts)


def test_the_check_report_warns_and_names_what_is_already_lost(staging: Topology) -> None:
    rep = report(("database", healthy_members()), ("hosts", [Result.fail("stg-app2", "no SSH")]))
    done = readiness.with_readiness(rep, staging)
    check = done.checks[-1]
    assert check.name == "failover"
    assert check.status is Status.WARN
    assert done.status is Status.FAIL  # the unreachable host itself fails; readiness only warns
    failing = [r for r in check.results if r.status is Status.WARN]
    assert [r.target for r in failing] == ["host stg-app1", "zone zone-a"]
    assert failing[0].summary.startswith(
        "does NOT survive (the topology would; live state does not): app: 0 of 2"
    )


def test_accepted_design_spofs_do_not_warn() -> None:
    dev = load_environment("dev").topology
    done = readiness.with_readiness(report(), dev)
    check = done.checks[-1]
    accepted = [r for r in check.results if "accepted risk" in r.summary]
    assert accepted
    assert all(r.status is Status.OK for r in accepted)
