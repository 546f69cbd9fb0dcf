"""The mattermost role and `deployer health` on lab hosts: a real deploy of `apptest` with the stand-in."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployer.execute.deploy import DeployOptions, DeployResult, deploy
from deployer.health import checks, output
from deployer.health.http import request, tls_context
from deployer.health.model import Status
from deployer.health.runner import run_checks
from deployer.health.targets import Secrets, targets_for
from deployer.lab import lifecycle
from deployer.lab.docker import require_docker
from deployer.secrets import load_secrets
from deployer.topology import Environment, load_environment
from tests.standin.build_tarball import build_tarball

pytestmark = [pytest.mark.fullstack, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]

DATA = Path(__file__).resolve().parents[1] / "data" / "app"
CHECKOUT = Path(__file__).resolve().parents[2]
VERSION = "10.5.2"
CHANNEL = "appt3stchanne1000000000000"  # any 26-character id: the stand-in has no channels table


@dataclass
class Deployed:
    env: Environment
    first: DeployResult
    bundle: Path
    render_dir: Path

    def deploy_again(self, *, check: bool = False) -> DeployResult:
        return deploy(self.env, deploy_options(self.bundle, self.render_dir, check=check), echo=print)


def deploy_options(bundle: Path, render_dir: Path, *, check: bool = False) -> DeployOptions:
    # The app play is not in deployer/playbooks/site.yml yet: tests/data/app/site.yml adds it.
    return DeployOptions(
        bundle=bundle, playbook=str(DATA / "site.yml"), render_dir=render_dir, check=check, diff=check
    )


def _environment(folder: Path) -> Environment:
    """tests/data/app/topology.yml with its bundle and key in `folder` (nothing lands in the checkout)."""
    topology = yaml.safe_load((DATA / "topology.yml").read_text(encoding="utf-8"))
    keys = CHECKOUT / "build" / "keys"
    if not (keys / "bundle.pub").is_file():
        from deployer.bundle.keys import generate  # noqa: PLC0415

        generate(keys)
    topology["bundle"] = {"path": str(folder / "apptest.tar.zst"), "public_key": str(keys / "bundle.pub")}
    (folder / "topology.yml").write_text(yaml.safe_dump(topology, sort_keys=False), encoding="utf-8")
    return load_environment(None, str(folder))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    try:
        require_docker()
    except Exception as exc:  # noqa: BLE001 - any reason the engine is missing
        pytest.skip(f"no Docker engine: {exc}")
    folder = tmp_path_factory.mktemp("apptest")
    env = _environment(folder)
    tarball = build_tarball(VERSION, folder / "release")
    from deployer.cli.main import main  # noqa: PLC0415

    code = main(["bundle", "build", "-i", str(folder), "--mattermost-tarball", str(tarball)])
    assert code == 0, "bundle build failed"
    bundle = folder / "apptest.tar.zst"
    try:
        lifecycle.up(env, progress=print)
        first = deploy(env, deploy_options(bundle, folder / "render"), echo=print)
        yield Deployed(env, first, bundle, folder / "render")
    finally:
        if not os.environ.get("DEPLOYER_KEEP_LAB"):
            lifecycle.down(env.name, progress=print)


def _health(env: Environment) -> tuple[bool, str]:
    vault = load_secrets(env)
    secrets = Secrets(s3_access_key=vault.s3_access_key, s3_secret_key=vault.s3_secret_key)
    report = run_checks(targets_for(env.topology, secrets, vault.ca.cert), checks.default_checks(10))
    print(output.text(report))
    return report.healthy, output.as_json(report)


def test_first_deploy_succeeds_on_every_host(deployed: Deployed) -> None:
    assert deployed.first.run.ok
    assert {"at-app1", "at-app2"} <= set(deployed.first.run.hosts)


def test_health_is_all_ok(deployed: Deployed) -> None:
    healthy, report = _health(deployed.env)
    data = json.loads(report)
    assert healthy, report
    assert {c["name"]: c["status"] for c in data["checks"]} == {
        "app-ping": "ok",
        "cluster": "ok",
        "vip": "ok",
        "database": "ok",
        "storage": "ok",
    }


def test_a_post_written_through_one_node_is_read_through_every_other(deployed: Deployed) -> None:
    nodes = [str(h.address) for h in deployed.env.topology.hosts if "app" in h.roles]
    message = f"written through {nodes[0]} {uuid.uuid4()}"
    body = json.dumps({"channel_id": CHANNEL, "message": message}).encode()
    made = request(
        "POST",
        nodes[0],
        8065,
        "/api/v4/posts",
        timeout=10,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert made.status == 201, made.body
    post_id = made.json()["id"]
    for node in nodes[1:]:
        read = request("GET", node, 8065, f"/api/v4/posts/{post_id}", timeout=10)
        assert read.status == 200
        assert read.json()["message"] == message


def test_a_post_through_the_vip_over_verified_https(deployed: Deployed) -> None:
    vault = load_secrets(deployed.env)
    site = "chat.apptest.example.internal"
    body = json.dumps({"channel_id": CHANNEL, "message": "through the VIP"}).encode()
    made = request(
        "POST",
        str(deployed.env.topology.loadbalancer.vip),
        443,
        "/api/v4/posts",
        timeout=10,
        body=body,
        headers={"Content-Type": "application/json", "Host": site},
        tls=tls_context(vault.ca.cert),
        server_name=site,
    )
    assert made.status == 201, made.body


def test_a_file_uploaded_through_one_node_is_read_through_another(deployed: Deployed) -> None:
    first, second = (str(h.address) for h in deployed.env.topology.hosts if "app" in h.roles)
    content = f"file content {uuid.uuid4()}".encode()
    made = request(
        "POST",
        first,
        8065,
        f"/api/v4/files?channel_id={CHANNEL}&filename=note.txt",
        timeout=15,
        body=content,
        headers={"Content-Type": "text/plain"},
    )
    assert made.status == 201, made.body
    file_id = made.json()["file_infos"][0]["id"]
    read = request("GET", second, 8065, f"/api/v4/files/{file_id}", timeout=15)
    assert read.status == 200
    assert read.body == content


def test_a_second_deploy_changes_nothing(deployed: Deployed) -> None:
    again = deployed.deploy_again()
    changed = {host: recap.changed for host, recap in again.run.hosts.items() if recap.changed}
    assert changed == {}, again.run.changed_tasks


def test_check_mode_on_a_converged_cluster_changes_nothing(deployed: Deployed) -> None:
    checked = deployed.deploy_again(check=True)
    assert checked.run.ok
    assert {h: r.changed for h, r in checked.run.hosts.items() if r.changed} == {}


def test_health_fails_when_an_app_node_stops(deployed: Deployed) -> None:
    import subprocess  # noqa: PLC0415

    from deployer.lab.plan import container_name  # noqa: PLC0415

    name = container_name("apptest", "at-app2")
    subprocess.run(["docker", "exec", name, "systemctl", "stop", "mattermost"], check=True)
    try:
        healthy, report = _health(deployed.env)
        assert not healthy
        failing = {c["name"] for c in json.loads(report)["checks"] if c["status"] == Status.FAIL}
        assert "app-ping" in failing
    finally:
        subprocess.run(["docker", "exec", name, "systemctl", "start", "mattermost"], check=True)
