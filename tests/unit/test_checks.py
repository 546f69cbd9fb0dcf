"""HA rules and the failure analysis on the sample environments and on targeted variations."""

from __future__ import annotations

from typing import Any

import yaml

from deployer.checks.explain import State, analyse
from deployer.checks.rules import RULES, run_checks
from deployer.errors import ExitCode
from deployer.topology import load_environment
from deployer.topology.model import Topology
from tests.conftest import ROOT


def staging_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "inventories/staging/topology.yml").read_text())
    return data


def test_sample_environments_pass() -> None:
    for name in ("dev", "staging", "prod"):
        env = load_environment(name)
        report = run_checks(env.topology, env.root)
        assert report.exit_code is ExitCode.OK, [f.message for f in report.errors + report.warnings]


def test_prod_has_no_single_point_of_failure_and_survives_each_zone() -> None:
    analysis = analyse(load_environment("prod").topology)
    assert analysis.spofs == []
    zones = [s for s in analysis.scenarios if s.kind == "zone"]
    assert [z.target for z in zones] == ["zone-a", "zone-b", "zone-c"]
    assert all(z.outcome is State.UP for z in zones)
    assert len(analysis.scenarios) == 15 + 3


def test_dev_spofs_are_all_accepted_with_reasons() -> None:
    analysis = analyse(load_environment("dev").topology)
    assert [(s.kind, s.target) for s in analysis.spofs] == [("host", "dev-node1"), ("zone", "zone-a")]
    for spof in analysis.spofs:
        assert spof.accepted_by[0].rule == "spof"
        assert "by design" in spof.accepted_by[0].reason
        assert "database writes" in spof.services_down


def test_losing_the_zone_with_an_etcd_majority_stops_database_writes() -> None:
    data = staging_data()
    for host in data["hosts"]:
        if host["name"] == "stg-db2":
            host["zone"] = "zone-a"
    topo = Topology.model_validate(data)
    zone_a = next(s for s in analyse(topo).scenarios if s.target == "zone-a")
    states = {s.name: s.state for s in zone_a.services}
    assert states["etcd"] is State.DOWN
    assert states["database writes"] is State.DOWN
    assert states["database reads"] is State.UP
    rules = {f.rule for f in run_checks(topo).errors}
    assert {"etcd-zone-majority", "spof"} <= rules


def test_killing_the_leader_host_keeps_writes_with_sync_replication() -> None:
    topo = Topology.model_validate(staging_data())
    db1 = next(s for s in analyse(topo).scenarios if s.target == "stg-db1")
    writes = next(s for s in db1.services if s.name == "database writes")
    assert writes.state is State.UP
    assert "no acknowledged commit lost" in writes.detail


def test_async_replication_loss_is_degraded_not_silent() -> None:
    data = staging_data()
    data["database"]["synchronous_replication"] = False
    topo = Topology.model_validate(data)
    db1 = next(s for s in analyse(topo).scenarios if s.target == "stg-db1")
    writes = next(s for s in db1.services if s.name == "database writes")
    assert writes.state is State.DEGRADED
    assert "may be lost" in writes.detail


def test_storage_copies_in_one_zone_are_lost_together() -> None:
    data = staging_data()
    for host in data["hosts"]:
        if host["name"] in {"stg-st1", "stg-st2"}:
            host["zone"] = "zone-a"
            host["rack"] = "r1"
    data["hosts"].append(
        {"name": "stg-st4", "address": "10.213.2.44", "zone": "zone-a", "rack": "r1", "roles": ["storage"]}
    )
    topo = Topology.model_validate(data)
    rack = next(s for s in analyse(topo).scenarios if s.kind == "rack")
    assert rack.target == "zone-a/r1"
    storage = next(s for s in rack.services if s.name == "file storage")
    assert storage.state is State.DOWN


def test_app_capacity_after_a_loss_is_reported_as_degraded() -> None:
    data = staging_data()
    data["mattermost"]["users"] = 2000
    topo = Topology.model_validate(data)
    app1 = next(s for s in analyse(topo).scenarios if s.target == "stg-app1")
    app = next(s for s in app1.services if s.name == "app")
    assert app.state is State.DEGRADED
    assert "1000 of 2000 users" in app.detail


def test_every_rule_has_an_id_and_a_reason() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.why and len(r.why) > 15 for r in RULES)


def test_accepting_a_risk_turns_its_error_into_an_accepted_finding() -> None:
    data = staging_data()
    data["hosts"] = [h for h in data["hosts"] if h["name"] != "stg-lb2"]
    failing = run_checks(Topology.model_validate(data))
    assert "lb-redundancy" in {f.rule for f in failing.errors}
    data["accepted_risks"] += [
        {"rule": "lb-redundancy", "reason": "a second load balancer arrives next quarter"},
        {"rule": "spof", "reason": "the single load balancer is a known single point"},
        {"rule": "tier-spread", "reason": "one load balancer lives in one zone"},
    ]
    accepted = run_checks(Topology.model_validate(data))
    assert accepted.errors == []
    assert {f.rule for f in accepted.accepted} >= {"lb-redundancy", "spof", "tier-spread"}
