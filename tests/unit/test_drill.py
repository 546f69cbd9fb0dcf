"""Drills with a fake clock, a fake service and a fake fault injector, so every figure is exact."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from deployer.drill import report as drill_report
from deployer.drill import scenarios
from deployer.drill.injectors import InjectionError, ServiceInjector
from deployer.drill.load import Load, LoadError
from deployer.drill.measure import Event, Moments, Op, Verification, measure, recovered_at
from deployer.drill.run import Drill, DrillRefusedError, Settings, preflight
from deployer.errors import ExitCode
from deployer.health.model import CheckReport, HealthReport, Result, Status
from deployer.health.readiness import LiveState, Member
from deployer.topology import load_environment
from deployer.topology.model import Host, Role

SETTINGS = Settings(
    warmup=2, observe_min=5, settle=2, window=30, interval=0.5, green_timeout=10, green_poll=1
)


@dataclass
class FakeClock:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeService:
    """Posts and files in memory; writes fail from fault+1 s to fault+6 s, like a failover."""

    clock: FakeClock
    outage: tuple[float, float] = (1.0, 6.0)
    lose_window: float = 0.0  # acknowledged posts younger than this at the fault are lost (async)
    fault_at: float | None = None
    healed_at: float | None = None
    posts: dict[str, tuple[str, float]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def down(self) -> bool:
        if self.fault_at is None:
            return False
        start, end = self.outage
        return self.fault_at + start <= self.clock.t < self.fault_at + end

    def fault(self) -> None:
        self.fault_at = self.clock.t
        cutoff = self.clock.t - self.lose_window
        self.posts = {k: v for k, v in self.posts.items() if v[1] < cutoff}

    def write_post(self, uid: str) -> str:
        if self.down():
            raise LoadError("create post: HTTP 502")
        post_id = f"p{len(self.posts)}-{uid}"
        self.posts[post_id] = (f"deployer drill {uid}", self.clock.t)
        return post_id

    def read_post(self, post_id: str) -> str:
        if self.down():
            raise LoadError("get post: HTTP 502")
        if post_id not in self.posts:
            raise LoadError("get post: HTTP 404")
        return self.posts[post_id][0]

    def upload_file(self, uid: str, content: bytes) -> str:
        if self.down():
            raise LoadError("upload: HTTP 503")
        self.files[uid] = content
        return f"f-{uid}"

    def download_file(self, file_id: str) -> bytes:
        if self.down():
            raise LoadError("download: HTTP 503")
        return self.files[file_id.removeprefix("f-")]


@dataclass
class FakeInjector:
    service: FakeService
    calls: list[tuple[str, str, float]] = field(default_factory=list)

    def inject(self, host: str, fault: str) -> str:
        self.calls.append(("inject", host, self.service.clock.t))
        self.service.fault()
        return f"{host} {fault}ed"

    def heal(self, host: str) -> str:
        self.calls.append(("heal", host, self.service.clock.t))
        self.service.healed_at = self.service.clock.t
        return f"{host} healed"


def counter() -> object:
    count = iter(range(10_000))
    return lambda: f"u{next(count)}"


def make_drill(service: FakeService, plan: scenarios.Plan) -> tuple[Drill, FakeInjector]:
    clock = service.clock
    injector = FakeInjector(service)

    def health() -> Status:
        healed = service.healed_at
        ok = healed is not None and clock.t >= healed + 2 and not service.down()
        return Status.OK if ok else Status.FAIL

    def detector() -> bool:
        return service.fault_at is not None and clock.t >= service.fault_at + 1.5

    load = Load(service, clock.now, new_uid=counter())  # type: ignore[arg-type]
    drill = Drill(
        "staging", plan, load, injector, detector, health, clock=clock, settings=SETTINGS, concurrent=False
    )
    return drill, injector


def primary_loss() -> scenarios.Plan:
    return scenarios.Plan(
        "db-primary-loss",
        ("stg-db1",),
        "kill",
        (Role.DATABASE,),
        "stg-db1 is the Patroni leader",
        (scenarios.Target("recovery_seconds", 25, "writes recover within 25 s"), scenarios.ZERO_LOST),
    )


def test_a_failover_drill_measures_exactly() -> None:
    service = FakeService(FakeClock())
    drill, injector = make_drill(service, primary_loss())
    result = drill.run()
    f = result.figures
    # Fault at t=2.0; writes fail from 3.0 to 7.5 (10 steps); detected at 3.5; first good write 8.0.
    assert result.moments.fault_at == 2.0
    assert f.detection_seconds == 1.5
    assert f.recovery_seconds == 6.0
    assert f.failed_writes == 10
    assert f.failed_requests == 12  # plus the two file uploads of steps at 4.0 and 6.0
    assert f.failed_before_fault == 0
    assert f.writes_acknowledged == 14
    assert f.writes_lost == 0
    assert f.files_acknowledged == 4
    assert f.files_lost == 0
    assert f.heal_to_green_seconds == 2.0
    assert injector.calls == [("inject", "stg-db1", 2.0), ("heal", "stg-db1", 10.0)]
    assert result.passed
    assert result.exit_code == ExitCode.OK
    assert result.timeline == (
        (-2.0, "synthetic load started"),
        (0.0, "fault injected"),
        (1.0, "first failed request (post-write: create post: HTTP 502)"),
        (1.5, "fault detected by the cluster"),
        (5.5, "last failed request (post-write: create post: HTTP 502)"),
        (6.0, "first successful write after the fault (recovered)"),
        (8.0, "fault healed"),
        (10.0, "health green again"),
        (10.0, "load stopped; acknowledged writes and files read back"),
    )


def test_lost_acknowledged_writes_are_counted_and_fail_the_drill() -> None:
    service = FakeService(FakeClock(), lose_window=0.6)  # the write at 1.5 had not reached a standby
    drill, _ = make_drill(service, primary_loss())
    result = drill.run()
    assert result.figures.writes_lost == 1
    assert [m.ok for m in result.met] == [True, False]
    assert not result.passed
    assert result.exit_code == ExitCode.CHECK_FAILED
    text = drill_report.text(result)
    assert "acknowledged writes lost                         1 of 14" in text
    missed = [line.split() for line in text.splitlines() if "MISSED" in line]
    assert missed == [["0", "acknowledged", "writes", "lost", "1", "MISSED"]]


def test_a_service_that_never_recovers_reports_never_and_still_heals() -> None:
    service = FakeService(FakeClock(), outage=(0.0, 1000.0))
    drill, injector = make_drill(service, primary_loss())
    result = drill.run()
    assert result.figures.recovery_seconds is None
    assert result.moments.healed_at == 2.0 + SETTINGS.window
    assert injector.calls[-1][0] == "heal"
    assert not result.green
    assert result.figures.writes_lost == result.figures.writes_acknowledged  # nothing can be read back
    assert json.loads(drill_report.as_json(result))["figures"]["recovery_seconds"] is None
    assert "recovery time (fault to first successful write)  never" in drill_report.text(result)


def test_the_fault_is_healed_even_when_watching_fails() -> None:
    service = FakeService(FakeClock())
    drill, injector = make_drill(service, primary_loss())

    def broken() -> bool:
        raise RuntimeError("detector crashed")

    drill.detector = broken
    with pytest.raises(RuntimeError):
        drill.run()
    assert [c[0] for c in injector.calls] == ["inject", "heal"]


def test_no_fault_when_the_load_does_not_work_before_it() -> None:
    service = FakeService(FakeClock())
    service.fault_at = -1.0
    service.outage = (0.0, 1000.0)
    drill, injector = make_drill(service, primary_loss())
    with pytest.raises(DrillRefusedError, match="fails before any fault"):
        drill.run()
    assert injector.calls == []


def test_recovery_ignores_writes_started_before_the_fault() -> None:
    slow = Event(Op.WRITE, "a", started=9.0, ended=14.0, ok=True)
    failed = Event(Op.WRITE, "b", started=14.0, ended=15.0, ok=False)
    good = Event(Op.WRITE, "c", started=15.5, ended=15.75, ok=True)
    assert recovered_at([slow, failed, good], fault_at=10.0) == 15.75
    assert recovered_at([slow], fault_at=10.0) is None
    figures = measure(
        [slow, failed, good],
        Moments(0.0, 10.0, 11.0, 20.0, None, 21.0),
        Verification(2, (), 0, ()),
    )
    assert figures.recovery_seconds == 5.75
    assert figures.detection_seconds == 1.0
    assert figures.failed_requests == 1
    assert figures.heal_to_green_seconds is None


def health(*statuses: Status) -> HealthReport:
    return HealthReport(
        "staging", [CheckReport(f"c{i}", "t", [Result("x", s, "y")], 0) for i, s in enumerate(statuses)], 0
    )


def test_preflight_refuses_a_degraded_cluster_unless_forced() -> None:
    assert preflight(health(Status.OK), force=False).startswith("health before the drill: ok")
    with pytest.raises(DrillRefusedError, match="warn before the drill"):
        preflight(health(Status.OK, Status.WARN), force=False)
    assert "going on because of --force" in preflight(health(Status.FAIL), force=True)


def live() -> LiveState:
    state = LiveState(vip_holder="stg-lb2")
    state.members = {
        "stg-db2": Member("stg-db2", "leader", running=True, promotable=True),
        "stg-db1": Member("stg-db1", "sync_standby", running=True, promotable=True),
    }
    return state


def test_scenarios_aim_at_the_live_leader_and_vip_holder() -> None:
    topology = load_environment("staging").topology
    plan = scenarios.plan("db-primary-loss", topology, live())
    assert plan.victims == ("stg-db2",)
    assert plan.targets[0].limit == 25
    assert scenarios.plan("db-primary-loss", topology, live(), "stop").targets[0].limit == 5
    assert scenarios.plan("lb-loss", topology, live()).victims == ("stg-lb2",)
    assert scenarios.plan("db-replica-loss", topology, live()).victims == ("stg-db1",)
    assert scenarios.plan("etcd-member-loss", topology, live()).victims == ("stg-db1",)
    app = scenarios.plan("app-node-loss", topology, live())
    assert (app.victims, app.fault) == (("stg-app1",), "stop")
    zone = scenarios.plan("zone-loss", topology, live())
    assert zone.victims == ("stg-lb2", "stg-app2", "stg-db2", "stg-st2")  # zone-b, the leader's
    with pytest.raises(scenarios.ScenarioError, match="unknown scenario"):
        scenarios.plan("meteor", topology, live())


def test_a_single_host_environment_has_no_app_node_to_lose() -> None:
    dev = load_environment("dev").topology
    with pytest.raises(scenarios.ScenarioError, match="this drill needs 2"):
        scenarios.plan("app-node-loss", dev, LiveState())


@dataclass
class RecordingShell:
    commands: list[tuple[str, str]] = field(default_factory=list)

    def run(self, host: Host, command: str, timeout: float) -> tuple[int, str, str]:
        del timeout
        self.commands.append((host.name, command))
        return 0, "", ""


def test_real_hosts_are_hit_only_with_confirm_and_only_the_lost_roles() -> None:
    topology = load_environment("staging").topology
    shell = RecordingShell()
    unconfirmed = ServiceInjector(topology, shell, (Role.DATABASE,), confirmed=False)
    with pytest.raises(InjectionError, match="stops production services"):
        unconfirmed.inject("stg-db1", "kill")
    assert shell.commands == []
    injector = ServiceInjector(topology, shell, (Role.DATABASE,), confirmed=True)
    injector.inject("stg-db1", "kill")
    injector.heal("stg-db1")
    assert shell.commands == [
        ("stg-db1", "sudo -n systemctl kill --signal=KILL patroni"),
        ("stg-db1", "sudo -n systemctl start patroni"),
    ]


def test_markdown_and_chat_summary() -> None:
    service = FakeService(FakeClock())
    drill, _ = make_drill(service, primary_loss())
    result = drill.run()
    md = drill_report.markdown(result)
    assert md.startswith(
        "# drill db-primary-loss on staging: PASSED (kill stg-db1; stg-db1 is the Patroni leader)"
    )
    assert "| recovery time (fault to first successful write) | 6 s |" in md
    chat = drill_report.summary(result)
    assert "://" not in chat
    assert "| detection time | 1.5 s |" in chat
