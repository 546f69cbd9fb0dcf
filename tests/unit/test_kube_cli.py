"""`deployer deploy` and `deployer health` of a kubernetes environment, through the CLI, against the fake API.

No Kubernetes API server runs offline here: tests/unit/fake_kube_api.py answers on 127.0.0.1
from hand-written JSON in the API's documented shapes.
"""

from __future__ import annotations

import io
import json
import re
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.unit.fake_kube_api import DEPLOYMENT, FakeApi, serve, write_kubeconfig
from tests.unit.kube_env import KubeEnv, make_env, offline_providers

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def kube_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeEnv:
    """k8s-prod pinned to the layout's 10.5.2 image; cwd is tmp_path, so build/ lands there."""
    monkeypatch.setattr("deployer.bundle.build.default_providers", offline_providers)
    monkeypatch.setattr("deployer.kube.deploy.POLL_SECONDS", 0.0)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return make_env(tmp_path)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeApi]:
    state = FakeApi("good")
    with serve(state) as url:
        state.kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
        yield state


def _build(run_cli, env: KubeEnv) -> None:
    built = run_cli("bundle", "build", "-i", str(env.folder), "--images-from", str(env.layout))
    assert built.code == 0, built.err


def _deploy(run_cli, env: KubeEnv, kubeconfig: Path, *extra: str):
    return run_cli("deploy", "-i", str(env.folder), "--kubeconfig", str(kubeconfig), *extra)


def _health(run_cli, env: KubeEnv, kubeconfig: Path | None, *extra: str):
    args = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
    return run_cli("health", "-i", str(env.folder), *args, *extra)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_deploy_verifies_renders_applies_and_waits(run_cli, kube_env: KubeEnv, fake: FakeApi) -> None:
    _build(run_cli, kube_env)
    result = _deploy(run_cli, kube_env, fake.kubeconfig)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    # Verification comes first, then the apply in dependency order, then the rollout.
    assert lines[0] == f"verify {kube_env.bundle} against {kube_env.pubkey}"
    assert lines.index("applied ConfigMap/mattermost-env (created)") < lines.index(
        "applied Deployment/mattermost (created)"
    )
    assert "  Deployment/mattermost: 1 of 3 pods updated" in lines
    assert "  Deployment/mattermost: done" in lines
    summary = re.compile(
        rf"^deployed k8s-prod to {re.escape(fake.url)} \(namespace mattermost\) in \d+ s: "
        r"11 object\(s\) applied \(11 created\), rolled out: Deployment/mattermost$",
        re.MULTILINE,
    )
    assert summary.search(result.out), result.out
    patches = [entry for entry in fake.log if entry[0] == "PATCH"]
    assert {(ctype, q["fieldManager"][0], q["force"][0]) for _, _, q, ctype in patches} == {
        (APPLY, "deployer", "true")
    }
    assert fake.current_image() == kube_env.rendered_image("10.5.2")
    assert (
        kube_env.folder.parent / "build" / "k8s-prod" / "kubernetes" / "deployment-mattermost.yaml"
    ).is_file()

    again = _deploy(run_cli, kube_env, fake.kubeconfig)
    assert again.code == 0, again.err
    assert "11 object(s) applied (0 created)" in again.out
    assert "applied Deployment/mattermost (configured)" in again.out


def test_failed_rollout_rolls_back_and_names_the_deployment(
    run_cli, kube_env: KubeEnv, fake: FakeApi
) -> None:
    _build(run_cli, kube_env)
    assert _deploy(run_cli, kube_env, fake.kubeconfig).code == 0
    kube_env.pin("10.5.3")
    _build(run_cli, kube_env)
    fake.scenario = "crash"
    fake.bad_image = kube_env.rendered_image("10.5.3")

    result = _deploy(run_cli, kube_env, fake.kubeconfig)
    assert result.code == 3
    assert "error: Deployment/mattermost did not roll out: " in result.err
    assert "CrashLoopBackOff" in result.err
    assert "rolled back (11 objects restored, 0 new objects deleted)" in result.err
    assert "Deployment/mattermost did not roll out; rolling back" in result.out
    assert "Traceback" not in result.err
    # Applied by the first deploy, by this one with the new image, and once more by the rollback.
    assert fake.patches().count(DEPLOYMENT) == 3
    assert fake.current_image() == kube_env.rendered_image("10.5.2")


def test_a_bundle_without_the_pinned_image_stops_before_the_api(
    run_cli, kube_env: KubeEnv, fake: FakeApi
) -> None:
    _build(run_cli, kube_env)
    kube_env.pin("10.5.3")  # the topology moved on; the bundle was not rebuilt
    result = _deploy(run_cli, kube_env, fake.kubeconfig)
    assert result.code == 3
    assert f"uses {kube_env.rendered_image('10.5.3')}, and the bundle" in result.err
    assert "does not carry that image" in result.err
    assert fake.log == []


def test_a_tampered_bundle_stops_before_the_api(run_cli, kube_env: KubeEnv, fake: FakeApi) -> None:
    _build(run_cli, kube_env)
    data = bytearray(zstandard.ZstdDecompressor().stream_reader(kube_env.bundle.open("rb")).read())
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("kube/charts/mattermost-ha-0.1.0.tgz")
    data[member.offset_data + 10] ^= 0x01
    kube_env.bundle.write_bytes(zstandard.ZstdCompressor().compress(bytes(data)))
    result = _deploy(run_cli, kube_env, fake.kubeconfig)
    assert result.code == 3
    assert "modified  kube/charts/mattermost-ha-0.1.0.tgz" in result.err
    assert fake.log == []


def test_kubeconfig_problems_are_bad_input_naming_the_file(
    run_cli, kube_env: KubeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope" / "kubeconfig"
    for command in ("deploy", "health"):
        result = run_cli(command, "-i", str(kube_env.folder), "--kubeconfig", str(missing))
        assert result.code == 2, result.err
        assert f"error: kubeconfig not found: {missing}" in result.err
        assert "Traceback" not in result.err
    unreadable = run_cli("health", "-i", str(kube_env.folder), "--kubeconfig", str(tmp_path))
    assert unreadable.code == 2
    assert f"cannot read the kubeconfig {tmp_path}: Is a directory" in unreadable.err
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Config\n")
    invalid = run_cli("health", "-i", str(kube_env.folder), "--kubeconfig", str(broken))
    assert invalid.code == 2
    assert f"cannot load the kubeconfig {broken}" in invalid.err
    # Without --kubeconfig: $KUBECONFIG, then ~/.kube/config, as kubectl reads them.
    monkeypatch.setenv("KUBECONFIG", str(missing))
    assert f"kubeconfig not found: {missing}" in _health(run_cli, kube_env, None).err
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        f"kubeconfig not found: {tmp_path / 'home' / '.kube' / 'config'}"
        in _health(run_cli, kube_env, None).err
    )


def test_an_unreachable_api_server_fails_naming_it(run_cli, kube_env: KubeEnv, tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{_free_port()}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server)
    _build(run_cli, kube_env)
    for result in (_deploy(run_cli, kube_env, kubeconfig), _health(run_cli, kube_env, kubeconfig)):
        assert result.code == 3, result.err
        assert f"error: cannot reach the Kubernetes API server at {server}: " in result.err
        assert "Connection refused" in result.err
        assert "Traceback" not in result.err


def test_vm_only_options_and_kubeconfig_on_a_vm_environment_are_refused(
    run_cli, kube_env: KubeEnv, fake: FakeApi
) -> None:
    result = _deploy(run_cli, kube_env, fake.kubeconfig, "--check", "--limit", "app")
    assert result.code == 2
    assert "--check, --limit: only for VM environments" in result.err
    for command in ("deploy", "health"):
        vm = run_cli(command, "-e", "dev", "--kubeconfig", str(fake.kubeconfig))
        assert vm.code == 2
        assert "--kubeconfig: only for kubernetes environments, and dev is not one" in vm.err
    assert fake.log == []


@pytest.fixture
def deployed(run_cli, kube_env: KubeEnv, fake: FakeApi) -> FakeApi:
    _build(run_cli, kube_env)
    assert _deploy(run_cli, kube_env, fake.kubeconfig).code == 0
    return fake


def test_health_of_a_rolled_out_cluster_is_healthy(run_cli, kube_env: KubeEnv, deployed: FakeApi) -> None:
    result = _health(run_cli, kube_env, deployed.kubeconfig)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("health of k8s-prod\n")
    assert "healthy: 5 checks passed" in result.out
    assert "status=OK, database_status=OK, filestore_status=OK" in result.out


def test_health_reads_the_default_kubeconfig_from_the_environment(
    run_cli, kube_env: KubeEnv, deployed: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(deployed.kubeconfig))
    result = _health(run_cli, kube_env, None, "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["environment"] == "k8s-prod"
    assert [c["name"] for c in doc["checks"]] == [
        "deployment",
        "pods",
        "endpoints-http",
        "endpoints-gossip",
        "ping",
    ]
    assert {c["status"] for c in doc["checks"]} == {"ok"}


@pytest.mark.parametrize(
    ("scenario", "code", "verdict", "line"),
    [
        # Two pods on one node still serve: degraded (exit 4), not failing.
        ("same-node", 4, "DEGRADED but serving", "two ready pods share a node (still serving)"),
        # The deep ping through the Service fails: users are not served (exit 3).
        (
            "filestore-down",
            3,
            "UNHEALTHY",
            "status=UNHEALTHY, database_status=OK, filestore_status=UNHEALTHY",
        ),
    ],
)
def test_health_maps_problems_to_the_vm_exit_codes(  # noqa: PLR0917 - pytest passes them by name
    run_cli, kube_env: KubeEnv, deployed: FakeApi, scenario: str, code: int, verdict: str, line: str
) -> None:
    deployed.scenario = scenario
    result = _health(run_cli, kube_env, deployed.kubeconfig)
    assert result.code == code, result.out
    assert verdict in result.out
    assert line in result.out


def test_health_without_a_deployment_fails(run_cli, kube_env: KubeEnv, fake: FakeApi) -> None:
    fake.scenario = "filestore-down"  # nothing answers the ping either
    result = _health(run_cli, kube_env, fake.kubeconfig)
    assert result.code == 3
    assert "Deployment mattermost not found" in result.out
    assert "UNHEALTHY" in result.out
