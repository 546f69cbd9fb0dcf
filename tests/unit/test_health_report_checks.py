"""Host and data-tier checks against fakes: a scripted SSH shell and recorded HTTP answers, no network."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paramiko
import pytest

from deployer.health import readiness
from deployer.health.datachecks import (
    ClientTls,
    Etcd,
    LoadBalancers,
    Replication,
    StorageNodes,
    haproxy_backends,
)
from deployer.health.hostchecks import (
    ClockOffset,
    HostHeadroom,
    HostReachable,
    HostUnits,
    Survey,
    survey_command,
    units_of,
)
from deployer.health.http import HttpError
from deployer.health.model import CheckReport, HealthReport, Status
from deployer.health.runner import run_checks
from deployer.health.targets import Secrets, targets_for
from deployer.topology import load_environment
from deployer.topology.model import Host, Role, Topology
from tests.conftest import DATA

RECORDED = DATA / "health"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def staging() -> Topology:
    return load_environment("staging").topology


def survey_output(
    units: dict[str, str], disk: int = 40, available_kb: int = 8_000_000, clock: float = NOW
) -> str:
    lines = ["##units", *units.values(), "##df", "Filesystem 1024-blocks Used Available Capacity Mounted on"]
    lines += [f"overlay 100 {disk} {100 - disk} {disk}% /", "##mem"]
    lines += ["MemTotal:       16000000 kB", f"MemAvailable:    {available_kb} kB"]
    lines += ["##addr", "2: eth0    inet 10.213.2.11/24 brd 10.213.2.255 scope global eth0"]
    lines += ["2: eth0    inet 10.213.2.10/24 scope global secondary eth0"]
    lines += ["##clock", f"{clock:.6f}"]
    return "\n".join(lines) + "\n"


@dataclass
class FakeShell:
    """Answers the survey per host from a table; a host missing from it refuses the connection."""

    topology: Topology
    overrides: dict[str, Any] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def run(self, host: Host, command: str, timeout: float) -> tuple[int, str, str]:
        self.calls.append(host.name)
        if host.name in self.hang:
            time.sleep(timeout * 10)
        answer = self.overrides.get(host.name)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            return 0, answer, ""
        units = dict.fromkeys(units_of(self.topology, host), "active")
        assert command == survey_command(list(units), host.has(Role.LOADBALANCER))
        return 0, survey_output(units), ""


def make_survey(topology: Topology, shell: FakeShell, timeout: float = 1.0) -> Survey:
    return Survey(topology, shell, timeout, wall_clock=lambda: NOW)


def by_target(results: list[Any]) -> dict[str, Any]:
    return {r.target: r for r in results}


def test_survey_runs_once_per_host_and_every_check_shares_it(staging: Topology) -> None:
    shell = FakeShell(staging)
    survey = make_survey(staging, shell)
    checks = [HostReachable(survey), HostUnits(survey), HostHeadroom(survey), ClockOffset(survey)]
    for check in checks:
        statuses = {r.target: r.status for r in check.run(None)}  # type: ignore[arg-type]
        assert set(statuses.values()) <= {Status.OK, Status.SKIP}, check.name
        assert statuses["stg-db1"] is Status.OK
    assert sorted(shell.calls) == sorted(h.name for h in staging.hosts)
    units = by_target(HostUnits(survey).run(None))  # type: ignore[arg-type]
    assert units["stg-bastion"].status is Status.SKIP
    assert units["stg-st1"].details["units"] == {
        "chrony": "active",
        "seaweedfs-master": "active",
        "seaweedfs-volume": "active",
        "seaweedfs-filer": "active",
    }


def test_units_down_name_the_lost_role(staging: Topology) -> None:
    host = staging.host("stg-db2")
    units = dict.fromkeys(units_of(staging, host), "active") | {"patroni": "failed"}
    shell = FakeShell(staging, {"stg-db2": survey_output(units)})
    result = by_target(HostUnits(make_survey(staging, shell)).run(None))["stg-db2"]  # type: ignore[arg-type]
    assert result.status is Status.FAIL
    assert result.summary == "patroni failed"
    assert result.details["roles_down"] == ["database"]


def test_unreachable_refused_and_hanging_hosts(staging: Topology) -> None:
    # What paramiko's RejectPolicy raises for a host whose key is not in known_hosts.
    unknown = paramiko.SSHException("Server '10.213.2.21' not found in known_hosts")
    shell = FakeShell(
        staging,
        {"stg-lb2": TimeoutError("timed out"), "stg-app1": unknown},
        hang={"stg-st3"},
    )
    survey = make_survey(staging, shell, timeout=0.2)
    started = time.monotonic()
    found = by_target(HostReachable(survey).run(None))  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.9  # the hanging host (2 s) costs twice its timeout, not more
    assert found["stg-lb2"].summary == "no SSH: timed out"
    assert found["stg-st3"].summary == "no answer within 0.4s"
    assert found["stg-app1"].summary == "SSH refused: Server '10.213.2.21' not found in known_hosts"
    assert found["stg-db1"].status is Status.OK
    headroom = by_target(HostHeadroom(survey).run(None))  # type: ignore[arg-type]
    assert headroom["stg-lb2"].status is Status.SKIP


def test_headroom_and_clock_thresholds(staging: Topology) -> None:
    def out(host: str, **kw: Any) -> str:
        return survey_output(dict.fromkeys(units_of(staging, staging.host(host)), "active"), **kw)

    shell = FakeShell(
        staging,
        {
            "stg-st1": out("stg-st1", disk=85),
            "stg-st2": out("stg-st2", disk=95),
            "stg-db1": out("stg-db1", available_kb=1_000_000),
            "stg-app1": out("stg-app1", clock=NOW + 1.2),
            "stg-app2": out("stg-app2", clock=NOW - 3.0),
        },
    )
    survey = make_survey(staging, shell)
    headroom = by_target(HostHeadroom(survey).run(None))  # type: ignore[arg-type]
    assert headroom["stg-st1"].status is Status.WARN
    assert headroom["stg-st2"].status is Status.FAIL
    assert headroom["stg-db1"].status is Status.WARN
    assert headroom["stg-db1"].summary == "disk 40% used (/), memory 6% available"
    clock = by_target(ClockOffset(survey).run(None))  # type: ignore[arg-type]
    assert clock["stg-app1"].status is Status.WARN
    assert clock["stg-app1"].summary == "+1.200s from the median (±0.000s)"
    assert clock["stg-app2"].status is Status.FAIL
    assert clock["stg-db2"].status is Status.OK


# --- data tier ----------------------------------------------------------------------------


def patroni_answers(lag: int = 0, replayed: str = "2026-11-27T11:59:58+00:00") -> dict[str, Any]:
    members = [
        {"name": "stg-db1", "role": "leader", "state": "running", "host": "10.213.2.31", "timeline": 3},
        {
            "name": "stg-db2",
            "role": "sync_standby",
            "state": "streaming",
            "host": "10.213.2.32",
            "timeline": 3,
            "lag": 0,
        },
        {
            "name": "stg-db3",
            "role": "replica",
            "state": "streaming",
            "host": "10.213.2.33",
            "timeline": 3,
            "lag": lag,
        },
    ]
    return {
        "/cluster": {"members": members},
        "/history": [
            [1, 25165984, "no recovery target specified", "2026-11-20T10:00:00+00:00", "stg-db2"],
            [2, 50331808, "no recovery target specified", "2026-11-21T10:00:00+00:00", "stg-db1"],
        ],
        "10.213.2.31/patroni": {"state": "running", "role": "master", "xlog": {"location": 90000}},
        "10.213.2.32/patroni": {"state": "running", "role": "replica", "xlog": {"replayed_location": 90000}},
        "10.213.2.33/patroni": {
            "state": "running",
            "role": "replica",
            "xlog": {"replayed_location": 80000, "replayed_timestamp": replayed},
        },
    }


def fake_fetch(answers: dict[str, Any], down: set[str] = frozenset()) -> Any:  # type: ignore[assignment]
    def fetch(address: str, port: int, path: str, timeout: float) -> Any:
        del port, timeout
        if address in down:
            raise HttpError("connection refused")
        for key in (f"{address}{path}", path):
            if key in answers:
                return answers[key]
        raise HttpError(f"HTTP 404 for {path}")

    return fetch


def replication(staging: Topology, answers: dict[str, Any]) -> dict[str, Any]:
    check = Replication(
        staging, 1.0, fake_fetch(answers), now=lambda: datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    )
    return by_target(check.run(None))  # type: ignore[arg-type]


def test_replication_healthy(staging: Topology) -> None:
    found = replication(staging, patroni_answers())
    assert found["stg-db3"].summary == "replica, streaming, lag 0 bytes, 2.0 s"
    assert found["stg-db3"].details["promotable"] is True
    assert found["synchronous standby"].summary == "stg-db2"
    assert found["timeline"].summary == "all on timeline 3, 2 failover(s) in history"
    assert all(r.status is Status.OK for r in found.values())


def test_a_replica_minutes_behind_is_not_promotable(staging: Topology) -> None:
    found = replication(staging, patroni_answers(replayed="2026-11-27T11:55:00+00:00"))
    assert found["stg-db3"].status is Status.WARN
    assert found["stg-db3"].details["why_not"] == "lag 300 s > 30 s"


def test_no_sync_standby_and_a_broken_timeline_fail(staging: Topology) -> None:
    answers = patroni_answers()
    answers["/cluster"]["members"][1]["role"] = "replica"
    answers["/cluster"]["members"][2]["timeline"] = 2
    answers["/history"].append([3, 1, "x", "y", "z"])
    found = replication(staging, answers)
    assert found["synchronous standby"].status is Status.FAIL
    assert found["timeline"].status is Status.FAIL
    assert found["timeline"].summary == "stg-db3 not on timeline 3; history ends at 3 but the leader is on 3"


def test_readiness_reads_the_replication_verdicts(staging: Topology) -> None:
    check = Replication(
        staging,
        1.0,
        fake_fetch(patroni_answers(replayed="2026-11-27T11:55:00+00:00")),
        now=lambda: datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
    )
    report = HealthReport("staging", [CheckReport(check.name, check.title, check.run(None), 0)], 0)  # type: ignore[arg-type]
    live = readiness.live_state(staging, report)
    assert live.leader == "stg-db1"
    assert live.members["stg-db3"].promotable is False
    assert live.members["stg-db2"].promotable is True


STATS = """# pxname,svname,scur,smax,status,weight
mattermost_app,FRONTEND,0,0,OPEN,
mattermost_app,stg-app1,0,0,UP,1
mattermost_app,stg-app2,0,0,DOWN,1
mattermost_app,BACKEND,0,0,UP,2
postgresql_write,stg-db1,0,0,UP,1
postgresql_write,stg-db2,0,0,DOWN,1
postgresql_write,stg-db3,0,0,DOWN,1
"""


def test_haproxy_csv_is_read_per_proxy_and_server() -> None:
    assert haproxy_backends(STATS) == {
        "mattermost_app": {"stg-app1": "UP", "stg-app2": "DOWN"},
        "postgresql_write": {"stg-db1": "UP", "stg-db2": "DOWN", "stg-db3": "DOWN"},
    }


def test_load_balancers_find_the_vip_holder_and_a_dead_standby(staging: Topology) -> None:
    shell = FakeShell(staging, {"stg-lb2": TimeoutError("timed out")})
    survey = make_survey(staging, shell)
    check = LoadBalancers(staging, survey, 1.0, fake_fetch({"/stats;csv": STATS}, down={"10.213.2.12"}))
    found = by_target(check.run(None))  # type: ignore[arg-type]
    assert found["stg-lb1"].details["vip_holder"] is True
    assert found["stg-lb1"].summary == "holds the VIP; mattermost_app 1/2, postgresql_write 1/3"
    assert found["stg-lb2"].status is Status.FAIL
    assert found["vip"].summary == "10.213.2.10 held by stg-lb1"


def test_storage_masters_volume_servers_and_replication(staging: Topology) -> None:
    answers = json.loads((RECORDED / "seaweedfs-staging.json").read_text(encoding="utf-8"))
    check = StorageNodes(staging, 1.0, fake_fetch(answers))
    found = by_target(check.run(None))  # type: ignore[arg-type]
    assert found["masters"].summary == "leader 10.213.2.41:9333"
    assert found["stg-st3"].summary == "volume server not registered with the master"
    assert found["volumes"].status is Status.WARN
    assert found["volumes"].summary == "2 of 3 volumes lack copies: 2, 3"
    assert found["stg-st1"].status is Status.OK


class FakeEtcd(Etcd):
    answers: dict[str, tuple[dict[str, Any], str]]

    def _status(self, host: Host, context: Any) -> tuple[dict[str, Any], str]:
        del context
        return self.answers[host.name]


def test_etcd_quorum(staging: Topology, monkeypatch) -> None:
    monkeypatch.setattr(ClientTls, "context", lambda _self: None)
    check = FakeEtcd(staging, ClientTls("ca", "cert", "key"), 1.0)
    ok = ({"leader": "1", "raftTerm": "7"}, "")
    check.answers = {"stg-db1": ok, "stg-db2": ok, "stg-db3": ({}, "connection refused")}
    found = by_target(check.run(None))  # type: ignore[arg-type]
    assert found["quorum"].status is Status.WARN
    assert found["quorum"].summary == "2 of 3 healthy, quorum 2: one more loss stops writes"
    check.answers["stg-db2"] = ({}, "timed out")
    assert by_target(check.run(None))["quorum"].status is Status.FAIL  # type: ignore[arg-type]
    assert Etcd(staging, None).run(None)[0].summary == "no client certificate for etcd in the vault"  # type: ignore[arg-type]


def test_one_dead_host_never_stalls_the_report(staging: Topology) -> None:
    """The whole extended report with one host hanging finishes within the SSH timeout, not the hang."""
    shell = FakeShell(staging, hang={"stg-db2"})
    survey = make_survey(staging, shell, timeout=0.3)
    targets = targets_for(staging, Secrets(), None)
    targets = type(targets)(**{**targets.__dict__, "app_nodes": [], "vip": None, "patroni": [], "s3": None})
    checks = [HostReachable(survey), HostUnits(survey), HostHeadroom(survey), ClockOffset(survey)]
    started = time.monotonic()
    report = run_checks(targets, checks)
    assert time.monotonic() - started < 2.2  # the hang lasts 3 s
    assert by_target(report.checks[0].results)["stg-db2"].status is Status.FAIL
