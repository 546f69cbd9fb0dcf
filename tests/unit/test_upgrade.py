"""Unit tests of upgrades: strategy and refusals, plans, golden runbooks, state, run, rollback, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from deployer.bundle.manifest import FileEntry, Kind, Manifest
from deployer.health.http import Answer
from deployer.topology import load_environment
from deployer.upgrade import layout as lay
from deployer.upgrade import render, state
from deployer.upgrade.bundle import find_tarball
from deployer.upgrade.errors import TargetNotInBundleError, UpgradeRefusedError, UpgradeStateError
from deployer.upgrade.gates import GateRunner
from deployer.upgrade.live import read_nodes
from deployer.upgrade.model import NodeState, Phase
from deployer.upgrade.planner import NODE_READY_SECONDS, Sizes, Tarball, build_plan, check_plan
from deployer.upgrade.runner import Runner
from deployer.upgrade.shell import Outcome
from deployer.upgrade.state import RunState, RunStatus
from deployer.upgrade.versions import Strategy, Version, choose_strategy
from tests.conftest import GOLDEN, ROOT, assert_golden

SHA = "ab" * 32
OLD_RELEASE = "/opt/mattermost-releases/10.5.2-0123456789ab"
SIZES = Sizes(database=734_003_200, config=24_576, data=None)


def v(text: str) -> Version:
    return Version.parse(text)


@pytest.fixture(scope="module")
def staging():
    return load_environment("staging", None).topology


def nodes(*versions: str) -> list[NodeState]:
    return [
        NodeState(name=f"stg-app{i}", address=f"10.213.2.2{i}", version=ver, release_dir=OLD_RELEASE)
        for i, ver in enumerate(versions, start=1)
    ]


def tarball(version: str) -> Tarball:
    return Tarball(f"mattermost/mattermost-{version}-linux-amd64.tar.gz", SHA, 412_000_000)


def plan_for(topology, target: str, *versions: str):
    return build_plan(topology, nodes(*versions), v(target), tarball(target), SIZES)


# -- strategy and refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("live", "target", "strategy"),
    [
        (["10.5.2", "10.5.2"], "10.5.3", Strategy.ROLLING),
        (["10.5.2", "10.5.3"], "10.5.3", Strategy.ROLLING),  # finish a rolling upgrade
        (["10.5.2", "10.5.2"], "10.6.0", Strategy.WINDOW),
        (["10.5.2", "10.5.2"], "10.11.0", Strategy.WINDOW),  # skipped minors migrate in order
        (["9.11.5", "9.11.5"], "10.5.2", Strategy.WINDOW),
        (["10.5.2", "10.6.0"], "10.6.1", Strategy.WINDOW),  # finish a half-done minor upgrade
        (["10.5.2", "10.5.2"], "10.5.2", Strategy.NOTHING),
    ],
)
def test_strategy_follows_mattermost_rules(live, target, strategy):
    assert choose_strategy({f"n{i}": v(x) for i, x in enumerate(live)}, v(target)) is strategy


@pytest.mark.parametrize(
    ("live", "target", "words"),
    [
        (["10.5.2", "10.5.2"], "10.5.1", "downgrade"),
        (["10.5.2", "10.5.2"], "9.11.0", "downgrade"),
        (["10.5.2", "10.7.0"], "10.7.1", "more than one minor release apart"),
        (["10.5.2", "10.6.0"], "10.7.0", "middle of an upgrade"),
        (["8.1.0", "8.1.0"], "10.5.2", "skips major release 9"),
    ],
)
def test_refusals_say_why(live, target, words):
    with pytest.raises(UpgradeRefusedError) as info:
        choose_strategy({f"n{i}": v(x) for i, x in enumerate(live)}, v(target))
    assert words in info.value.message
    assert info.value.hint


def test_version_from_header_and_garbage():
    assert v("10.5.3.12345.abcdef.true") == Version(10, 5, 3)
    with pytest.raises(UpgradeRefusedError):
        v("latest")


def test_target_not_in_bundle_names_the_bundle_to_build():
    entry = FileEntry(
        path="mattermost/mattermost-10.5.2-linux-amd64.tar.gz",
        kind=Kind.RELEASE_TARBALL,
        name="mattermost-server",
        version="10.5.2",
        size=10,
        sha256=SHA,
        origin="file:x",
    )
    manifest = Manifest(
        environment="staging",
        platform="vm",
        target_release="bookworm",
        mattermost_version="10.5.2",
        deployer_version="0.1.0",
        key_id="k",
        source_date_epoch=0,
        files=[entry],
    )
    assert find_tarball(manifest, "staging", "10.5.2").sha256 == SHA
    with pytest.raises(TargetNotInBundleError) as info:
        find_tarball(manifest, "staging", "10.5.3")
    assert "holds Mattermost 10.5.2, not 10.5.3" in info.value.message
    assert (
        "deployer bundle build -e staging --mattermost-tarball mattermost-10.5.3-linux-amd64.tar.gz"
        in info.value.hint
    )


# -- plans -----------------------------------------------------------------------------------------


def test_rolling_plan_backs_up_then_drains_each_node_before_switching(staging):
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    ids = [s.id for s in plan.steps]
    assert ids == [
        "backup-database",
        "backup-config",
        "stage-release",
        "drain-stg-app1",
        "switch-stg-app1",
        "ready-stg-app1",
        "drain-stg-app2",
        "switch-stg-app2",
        "ready-stg-app2",
        "verify-cluster",
    ]
    drain = plan.step("drain-stg-app1")
    assert drain.hosts == ["stg-lb1", "stg-lb2"]
    assert "set server mattermost_app/stg-app1 state drain" in drain.commands[0]
    switch = plan.step("switch-stg-app1")
    assert switch.commands[1] == f"sudo ln -sfn {plan.release_dir} /opt/mattermost"
    assert f"sudo ln -sfn {OLD_RELEASE} /opt/mattermost" in switch.rollback[0].commands
    assert plan.release_dir == f"/opt/mattermost-releases/10.5.3-{SHA[:12]}"


def test_node_timeout_bounds_each_nodes_gate_and_shows_in_the_runbook(staging):
    default = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    assert default.step("switch-stg-app1").gate.timeout_seconds == NODE_READY_SECONDS
    short = build_plan(
        staging, nodes("10.5.2", "10.5.2"), v("10.5.3"), tarball("10.5.3"), SIZES, node_timeout=45
    )
    switched = [s for s in short.steps if s.id.startswith("switch-")]
    assert [s.gate.timeout_seconds for s in switched] == [45, 45]
    # the other gates keep their own bounds
    assert (
        short.step("verify-cluster").gate.timeout_seconds
        == default.step("verify-cluster").gate.timeout_seconds
    )
    assert "**Gate** (within 45 s)" in render.render(short, "markdown", None)


def test_rolling_plan_skips_nodes_already_on_target(staging):
    plan = plan_for(staging, "10.5.3", "10.5.3", "10.5.2")
    assert not any(s.id.endswith("stg-app1") for s in plan.steps)
    assert plan.step("stage-release").hosts == ["stg-app2"]


def test_window_plan_stops_everything_and_migrates_on_one_node(staging):
    plan = plan_for(staging, "10.6.0", "10.5.2", "10.5.2")
    ids = [s.id for s in plan.steps]
    assert ids == [
        "stage-release",
        "close-frontends",
        "stop-apps",
        "backup-database",
        "backup-config",
        "switch-release",
        "migrate-stg-app1",
        "start-stg-app2",
        "open-frontends",
        "verify-cluster",
    ]
    migrate = plan.step("migrate-stg-app1")
    assert migrate.hosts == ["stg-app1"]
    restore = migrate.rollback[1].commands[0]
    assert "pg_restore --clean" in restore
    # Only the Mattermost frontends close: the database endpoint of the same HAProxy stays up.
    close = plan.step("close-frontends")
    assert all("disable frontend mattermost_http" in c for c in close.commands)


def test_local_storage_adds_a_data_backup(staging):
    local = staging.model_copy(update={"storage": staging.storage.model_copy(update={"type": "local"})})
    plan = plan_for(local, "10.5.3", "10.5.2", "10.5.2")
    assert "backup-data" in [s.id for s in plan.steps]
    assert any(b.path.endswith("data.tar.gz") for b in plan.backups)


def test_a_plan_without_backup_or_drain_is_refused(staging):
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    no_backup = plan.model_copy(update={"steps": [s for s in plan.steps if not s.id.startswith("backup-")]})
    with pytest.raises(UpgradeRefusedError, match="without a backup"):
        check_plan(no_backup)
    no_drain = plan.model_copy(update={"steps": [s for s in plan.steps if s.id != "drain-stg-app2"]})
    with pytest.raises(UpgradeRefusedError, match="without being drained"):
        check_plan(no_drain)
    window = plan_for(staging, "10.6.0", "10.5.2", "10.5.2")
    two = window.model_copy(
        update={
            "steps": [*window.steps, window.step("migrate-stg-app1").model_copy(update={"id": "migrate-x"})]
        }
    )
    with pytest.raises(UpgradeRefusedError, match="exactly one node"):
        check_plan(two)


def test_missing_node_reading_is_refused(staging):
    with pytest.raises(UpgradeRefusedError, match="stg-app2"):
        build_plan(staging, nodes("10.5.2")[:1], v("10.5.3"), tarball("10.5.3"), SIZES)


def test_layout_matches_the_roles():
    defaults = yaml.safe_load((ROOT / "roles/mattermost/defaults/main.yml").read_text())
    links = yaml.safe_load((ROOT / "roles/mattermost/vars/main.yml").read_text())["mattermost_state_links"]
    assert defaults["mattermost_home"] == lay.HOME
    assert defaults["mattermost_releases_dir"] == lay.RELEASES
    assert defaults["mattermost_state_dir"] == lay.STATE
    assert f"{defaults['mattermost_secrets_dir']}/mattermost.env" == lay.ENV_FILE
    assert [(x["path"], x["target"]) for x in links] == list(lay.STATE_LINKS)
    haproxy = (ROOT / "roles/loadbalancer/templates/etc/haproxy/haproxy.cfg.j2").read_text()
    assert f"stats socket {lay.HAPROXY_SOCKET} " in haproxy
    assert f"backend {lay.HAPROXY_BACKEND}\n" in haproxy
    for frontend in lay.HAPROXY_FRONTENDS:
        assert f"frontend {frontend}\n" in haproxy


# -- golden runbooks -------------------------------------------------------------------------------

GOLDEN_CASES = {"rolling": ("10.5.3", "10.5.2", "10.5.2"), "window": ("10.6.0", "10.5.2", "10.5.2")}
EXTENSIONS = {"markdown": "md", "html": "html", "json": "json"}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
@pytest.mark.parametrize("fmt", render.FORMATS)
def test_golden_runbooks(staging, case, fmt):
    target, *live = GOLDEN_CASES[case]
    plan = plan_for(staging, target, *live)
    text = render.render(plan, fmt)
    assert text == render.render(plan_for(staging, target, *live), fmt)  # byte-identical
    assert_golden(GOLDEN / "upgrade" / f"staging-{case}.{EXTENSIONS[fmt]}", text)


def test_json_runbook_reads_back_as_the_plan(staging):
    plan = plan_for(staging, "10.6.0", "10.5.2", "10.5.2")
    data = json.loads(render.as_json(plan))
    data.pop("expected_seconds")
    assert type(plan).model_validate(data) == plan


def test_html_runbook_is_self_contained(staging):
    page = render.html_page(plan_for(staging, "10.5.3", "10.5.2", "10.5.2"))
    assert "<script" not in page
    assert "http" not in page.split("<body>")[0].replace("http-equiv", "")
    assert "&lt;" not in page or "<pre>" in page


# -- fakes for the runner --------------------------------------------------------------------------


@dataclass
class FakeCluster:
    """App nodes' versions as the fake HTTP layer reports them, changed by the fake shell's commands."""

    versions: dict[str, str]
    addresses: dict[str, str]
    broken: set[str] = field(default_factory=set)  # versions whose deep ping fails
    links: dict[str, str] = field(default_factory=dict)
    running: dict[str, bool] = field(default_factory=dict)

    def http(self, address: str, port: int, path: str, headers: dict[str, str]) -> Answer:
        del port, headers
        if path.startswith("/api/v4/cluster/status"):
            members = [
                {"hostname": n, "version": ver, "is_alive": self.running.get(n, True), "config_hash": "h1"}
                for n, ver in self.versions.items()
            ]
            return Answer(200, {}, json.dumps(members).encode())
        node = next(n for n, a in self.addresses.items() if a == address)
        if not self.running.get(node, True):
            from deployer.health.http import HttpError  # noqa: PLC0415

            raise HttpError("connection refused")
        version = self.versions[node]
        ok = version not in self.broken
        body = {"status": "OK" if ok else "UNHEALTHY", "database_status": "OK" if ok else "UNHEALTHY"}
        body["filestore_status"] = "OK"
        return Answer(200 if ok else 500, {"x-version-id": f"{version}.1.h.true"}, json.dumps(body).encode())


@dataclass
class FakeShell:
    cluster: FakeCluster
    calls: list[tuple[str, str]] = field(default_factory=list)
    uploads: list[tuple[str, str]] = field(default_factory=list)
    interrupt_at: str | None = None

    def run(self, host: str, command: str, timeout: float) -> Outcome:
        del timeout
        self.calls.append((host, command))
        if self.interrupt_at and self.interrupt_at in command:
            raise KeyboardInterrupt
        if command.startswith("sudo ln -sfn "):
            self.cluster.links[host] = command.split()[3]
        elif command == "sudo systemctl stop mattermost":
            self.cluster.running[host] = False
        elif command == "sudo systemctl start mattermost":
            self.cluster.running[host] = True
            link = self.cluster.links.get(host, OLD_RELEASE)
            self.cluster.versions[host] = link.rsplit("/", 1)[-1].split("-")[0]
        elif command.startswith("! systemctl is-active"):
            return Outcome(0 if not self.cluster.running.get(host, True) else 1, "", "")
        return Outcome(0, "", "")

    def upload(self, host: str, source: Path, destination: str) -> None:
        del source
        self.uploads.append((host, destination))

    def commands_on(self, host: str) -> list[str]:
        return [c for h, c in self.calls if h == host]


def make_runner(plan, cluster, shell, saved, echo=None):
    gates = GateRunner(
        shell, http=cluster.http, clock=iter(range(0, 10**6, 5)).__next__, sleep=lambda _: None
    )
    return Runner(
        RunState(plan=plan),
        shell,
        gates,
        Path("/bundle"),
        echo or (lambda _: None),
        save=saved.append,
        clock=iter(float(x) for x in range(10**6)).__next__,
    )


def cluster_for(plan) -> FakeCluster:
    return FakeCluster(
        versions={n.name: n.version for n in plan.nodes}, addresses={n.name: n.address for n in plan.nodes}
    )


def test_run_patch_upgrade_executes_the_plans_own_commands(staging):
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    cluster = cluster_for(plan)
    shell = FakeShell(cluster)
    saved: list[RunState] = []
    report = make_runner(plan, cluster, shell, saved).run()
    assert report.status is RunStatus.DONE, report.summary()
    assert cluster.versions == {"stg-app1": "10.5.3", "stg-app2": "10.5.3"}
    expected = [(h, c) for s in plan.steps for h in s.hosts if h != "workstation" for c in s.commands]
    # Gates run commands too; the step commands appear in plan order, each exactly once.
    step_calls = [call for call in shell.calls if call in expected]
    assert step_calls == expected
    assert shell.uploads == [
        ("stg-app1", "/var/tmp/mattermost-10.5.3-linux-amd64.tar.gz"),
        ("stg-app2", "/var/tmp/mattermost-10.5.3-linux-amd64.tar.gz"),
    ]
    assert len(saved) > len(plan.steps)  # progress written after every step


def test_failed_gate_rolls_the_node_back_and_stops(staging):
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    cluster = cluster_for(plan)
    cluster.broken.add("10.5.3")
    shell = FakeShell(cluster)
    report = make_runner(plan, cluster, shell, []).run()
    assert report.status is RunStatus.ROLLED_BACK
    assert report.failed_step == "switch-stg-app1"
    assert cluster.versions == {"stg-app1": "10.5.2", "stg-app2": "10.5.2"}
    app1 = shell.commands_on("stg-app1")
    assert app1[-4:] == plan.step("switch-stg-app1").rollback[0].commands
    # The drain is undone too, and stg-app2 was never touched.
    assert any("state ready" in c for c in shell.commands_on("stg-lb1")[-1:])
    assert not any("systemctl" in c for c in shell.commands_on("stg-app2"))
    assert "serving on the old release again" in report.summary()


def test_failed_migration_restores_the_database_and_reopens(staging):
    plan = plan_for(staging, "10.6.0", "10.5.2", "10.5.2")
    cluster = cluster_for(plan)
    cluster.broken.add("10.6.0")
    shell = FakeShell(cluster)
    report = make_runner(plan, cluster, shell, []).run()
    assert report.status is RunStatus.ROLLED_BACK
    assert report.failed_step == "migrate-stg-app1"
    assert any("pg_restore --clean" in c for c in shell.commands_on("stg-app1"))
    assert cluster.versions == {"stg-app1": "10.5.2", "stg-app2": "10.5.2"}
    assert all(cluster.running.values())
    assert "enable frontend mattermost_https" in shell.commands_on("stg-lb2")[-2]


def test_interrupt_then_resume_does_no_step_twice(staging, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path))
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    cluster = cluster_for(plan)
    shell = FakeShell(cluster, interrupt_at="state drain")
    first = state.start_or_resume("staging", "10.5.3", resume=False, fresh=plan)
    runner = make_runner(plan, cluster, shell, [])
    runner.state, runner.save = first, state.save
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    saved = state.load("staging")
    assert saved is not None
    assert saved.status is RunStatus.RUNNING
    assert saved.done() == {"backup-database", "backup-config", "stage-release"}
    with pytest.raises(UpgradeStateError, match="unfinished"):
        state.start_or_resume("staging", "10.5.3", resume=False, fresh=plan)
    with pytest.raises(UpgradeStateError, match=r"goes to 10\.5\.3"):
        state.start_or_resume("staging", "10.5.4", resume=True, fresh=None)
    resumed = state.start_or_resume("staging", "10.5.3", resume=True, fresh=None)
    shell2 = FakeShell(cluster)
    runner2 = make_runner(resumed.plan, cluster, shell2, [])
    runner2.state, runner2.save = resumed, state.save
    report = runner2.run()
    assert report.status is RunStatus.DONE
    assert report.skipped == ["backup-database", "backup-config", "stage-release"]
    assert not shell2.uploads
    assert not any("pg_dump" in c for _, c in shell2.calls)
    # The interrupted step runs again from its start; every later step once.
    assert report.done_now[0] == "drain-stg-app1"
    assert len(report.done_now) == len(set(report.done_now)) == len(plan.steps) - 3
    assert state.load("staging").status is RunStatus.DONE
    with pytest.raises(UpgradeStateError, match="nothing to resume"):
        state.start_or_resume("staging", "10.5.3", resume=True, fresh=None)


def test_state_file_is_written_atomically(staging, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path))
    plan = plan_for(staging, "10.5.3", "10.5.2", "10.5.2")
    path = state.save(RunState(plan=plan))
    assert path == tmp_path / "upgrade" / "staging.json"
    assert [p.name for p in path.parent.iterdir()] == ["staging.json"]
    path.write_text("{broken")
    with pytest.raises(UpgradeStateError, match="not a progress file"):
        state.load("staging")


def test_read_nodes_refuses_a_node_outside_the_roles_layout(staging):
    class Versions:
        def version(self, address: str, port: int) -> str:
            del address, port
            return "10.5.2"

    class Shell:
        def run(self, host: str, command: str, timeout: float) -> Outcome:
            del command, timeout
            if host == "stg-app2":
                return Outcome(0, "/opt/mattermost\n", "")
            return Outcome(0, OLD_RELEASE + "\n", "")

        def upload(self, host: str, source: Path, destination: str) -> None:
            raise AssertionError((host, source, destination))

    from deployer.upgrade.errors import LiveStateError  # noqa: PLC0415

    with pytest.raises(LiveStateError, match="stg-app2"):
        read_nodes(staging, Versions(), Shell())


def test_phases_are_consistent(staging):
    for case in GOLDEN_CASES.values():
        plan = plan_for(staging, case[0], *case[1:])
        for step in plan.steps:
            if step.phase is Phase.CHANGE:
                assert step.unit, step.id
