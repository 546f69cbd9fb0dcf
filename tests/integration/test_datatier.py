"""End-to-end: deploy the data tier of `staging` from its bundle on the lab's internal network, then
break one host of each tier and check that no acknowledged write is lost.

Slow (a cold deploy takes minutes): the lab comes up once for the module and is removed by a
finalizer, also when a test fails. DEPLOYER_DATATIER_INVENTORY=tests/data/datatier runs the same
checks on the data tier's own copy of staging (10.213.7.0/24).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import pytest
import yaml

from deployer.execute import DeployOptions, DeployResult, deploy
from deployer.health.http import request, tls_context
from deployer.lab import lifecycle
from deployer.secrets import Secrets, load_secrets
from deployer.topology import Environment, load_environment
from tests.conftest import ROOT
from tests.integration.datatier_probes import S3, connect

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(7200)]

INVENTORY = Path(os.environ.get("DEPLOYER_DATATIER_INVENTORY", ROOT / "inventories" / "staging"))
STANDIN = ROOT / "tests" / "standin" / "build_tarball.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_failover", ROOT / "bench" / "failover.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_failover"] = module
    spec.loader.exec_module(module)
    return module


failover = _bench()


def _copy_environment(target: Path) -> Path:
    """The topology in a scratch folder (its vault stays out of the repo), bundle paths absolute."""
    source = INVENTORY / "topology.yml"
    data = yaml.safe_load(source.read_text())
    for key in ("path", "public_key"):
        data["bundle"][key] = str((INVENTORY / data["bundle"][key]).resolve())
    target.mkdir(parents=True)
    (target / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _ensure_bundle(env: Environment, scratch: Path) -> None:
    """Build the bundle (connected side) unless the topology's bundle is already there."""
    bundle = env.relative(env.topology.bundle.path or "")
    if bundle.is_file():
        return
    deployer = [str(Path(sys.executable).parent / "deployer")]
    key = env.relative(env.topology.bundle.public_key or "")
    if not key.is_file():
        subprocess.run([*deployer, "bundle", "keygen", "-o", str(key.parent)], check=True)
    subprocess.run(
        [sys.executable, str(STANDIN), env.topology.mattermost.version, "--out-dir", str(scratch)], check=True
    )
    tarball = next(scratch.glob("mattermost-*.tar.gz"))
    subprocess.run(
        [*deployer, "bundle", "build", "-i", str(env.root), "--mattermost-tarball", str(tarball)], check=True
    )


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Environment, DeployResult, list[str]]]:
    scratch = tmp_path_factory.mktemp("datatier")
    state = scratch / "state"
    previous = os.environ.get("DEPLOYER_STATE_DIR")
    os.environ["DEPLOYER_STATE_DIR"] = str(state)
    env = load_environment(None, str(_copy_environment(scratch / "env")))
    try:
        _ensure_bundle(env, scratch)
        lifecycle.up(env)
        lines: list[str] = []
        result = deploy(env, DeployOptions(render_dir=scratch / "build"), lines.append)
        # Shown with `pytest -s`: the figures of the cold deploy.
        print(f"\ncold deploy of {env.name}: {result.seconds:.0f} s, {result.run.changed} changes")
        yield env, result, lines
    finally:
        lifecycle.down(env.name)
        if previous is None:
            os.environ.pop("DEPLOYER_STATE_DIR", None)
        else:
            os.environ["DEPLOYER_STATE_DIR"] = previous
        shutil.rmtree(state / "store", ignore_errors=True)


@pytest.fixture(scope="module")
def secrets(deployed: tuple[Environment, DeployResult, list[str]]) -> Secrets:
    return load_secrets(deployed[0])


@pytest.fixture(scope="module")
def tier(deployed: tuple[Environment, DeployResult, list[str]]) -> object:
    return failover.Tier.load(deployed[0])


def test_deploy_output_render_and_logs_hold_no_secret(
    deployed: tuple[Environment, DeployResult, list[str]], secrets: Secrets
) -> None:
    env, result, lines = deployed
    texts = ["\n".join(lines), result.run.log_file.read_text()]
    # The render directory (inventory, group vars, the run's vars) and the environment folder
    # (the vault itself is encrypted) must hold no secret in plain text.
    paths = [*(env.root.parent / "build").rglob("*"), *env.root.rglob("*")]
    texts += [path.read_text(errors="replace") for path in paths if path.is_file()]
    leaked = [value[:4] + "..." for value in secrets.values() if any(value in text for text in texts)]
    assert leaked == []
    assert all(h.failed == 0 and h.unreachable == 0 for h in result.run.hosts.values())


def test_second_deploy_changes_nothing(deployed: tuple[Environment, DeployResult, list[str]]) -> None:
    env = deployed[0]
    lines: list[str] = []
    again = deploy(env, DeployOptions(render_dir=env.root.parent / "build"), lines.append)
    print(f"\nno-op deploy of {env.name}: {again.seconds:.0f} s, {again.run.changed} changes")
    print(again.table())
    assert again.run.changed == 0, again.run.changed_tasks


def test_writes_through_the_vip_and_read_after_write_across_gateways(tier: object, secrets: Secrets) -> None:
    conn = connect(tier.vip, 5432, secrets.mattermost_db_password)  # type: ignore[attr-defined]
    try:
        with conn, conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("CREATE TABLE IF NOT EXISTS e2e (id serial PRIMARY KEY, note text)")
            cur.execute("INSERT INTO e2e (note) VALUES ('through the VIP') RETURNING id")
            assert cur.fetchone()[0] >= 1
            cur.execute("SELECT pg_is_in_recovery()")
            assert cur.fetchone()[0] is False
    finally:
        conn.close()  # type: ignore[attr-defined]
    gateways = [
        S3(address, 8333, secrets.s3_access_key, secrets.s3_secret_key) for address in tier.storage.values()
    ]  # type: ignore[attr-defined]
    for n in range(9):
        body = f"object {n}".encode()
        assert gateways[n % len(gateways)].put("mattermost", f"e2e/raw-{n}", body) == 200
        # Read through EVERY gateway at once: one shared filer store, so no gateway lags.
        assert [g.get("mattermost", f"e2e/raw-{n}") for g in gateways] == [(200, body)] * len(gateways)


def _app_nodes(env: Environment) -> list[str]:
    return [str(h.address) for h in env.topology.hosts if "app" in h.roles]


def test_every_app_node_is_healthy_and_in_one_cluster(
    deployed: tuple[Environment, DeployResult, list[str]],
) -> None:
    env = deployed[0]
    versions = set()
    for address in _app_nodes(env):
        ping = request("GET", address, 8065, "/api/v4/system/ping?get_server_status=true", timeout=10)
        doc = ping.json()
        assert ping.status == 200, doc
        assert (doc["status"], doc["database_status"], doc["filestore_status"]) == ("OK", "OK", "OK")
        status = request("GET", address, 8065, "/api/v4/cluster/status", timeout=10).json()
        assert sorted(n["hostname"] for n in status if n["is_alive"]) == sorted(
            h.name for h in env.topology.hosts if "app" in h.roles
        )
        versions |= {n["version"] for n in status}
    assert versions == {env.topology.mattermost.version}


def test_post_and_file_through_the_vip_are_readable_on_every_node(
    deployed: tuple[Environment, DeployResult, list[str]], secrets: Secrets
) -> None:
    env = deployed[0]
    vip = str(env.topology.loadbalancer.vip)
    site = urlparse(env.topology.mattermost.site_url).hostname or ""
    tls = tls_context(secrets.ca.cert)
    channel = "e2e" + "0" * 23  # Mattermost ids are 26 lower-case letters and digits
    body = json.dumps({"channel_id": channel, "message": "through the VIP over HTTPS"}).encode()
    created = request(
        "POST",
        vip,
        443,
        "/api/v4/posts",
        timeout=10,
        body=body,
        tls=tls,
        server_name=site,
        headers={"Content-Type": "application/json"},
    )
    assert created.status == 201, created.body
    post_id = created.json()["id"]
    upload = request(
        "POST",
        _app_nodes(env)[0],
        8065,
        f"/api/v4/files?channel_id={channel}&filename=e2e.txt",
        timeout=10,
        body=b"uploaded through one node",
    )
    assert upload.status == 201, upload.body
    file_id = upload.json()["file_infos"][0]["id"]
    for address in _app_nodes(env):
        post = request("GET", address, 8065, f"/api/v4/posts/{post_id}", timeout=10)
        assert post.status == 200
        assert post.json()["message"] == "through the VIP over HTTPS"
        got = request("GET", address, 8065, f"/api/v4/files/{file_id}", timeout=10)
        assert (got.status, got.body) == (200, b"uploaded through one node")
    plain = request("GET", vip, 80, "/", timeout=10)
    assert plain.status in {301, 302, 308}
    assert plain.headers["location"].startswith("https://")


def test_database_leader_killed(tier: object) -> None:
    figure = failover.database_leader(tier, "kill", "deployer")
    # Recovery time is a benchmark figure (bench/failover.py), not a timed assertion.
    assert figure.rto is not None, "writes never succeeded again"
    assert figure.lost == 0
    assert "back as replica" in figure.note


def test_loadbalancer_holding_the_vip_stopped(tier: object, secrets: Secrets) -> None:
    figure = failover.loadbalancer(tier, "stop")
    assert figure.rto is not None
    assert figure.lost == 0
    before, after = figure.note.removeprefix("VIP ").split(" -> ")
    assert before != after
    s3 = S3(tier.vip, 8333, secrets.s3_access_key, secrets.s3_secret_key)  # type: ignore[attr-defined]
    assert s3.put("mattermost", "e2e/after-vip-move", b"x") == 200


def test_storage_host_killed(tier: object) -> None:
    figure = failover.storage_host(tier)
    assert figure.rto is not None
    assert figure.lost == 0
    assert "old objects unreadable: 0" in figure.note
    assert "replication restored" in figure.note


def test_etcd_member_killed(tier: object) -> None:
    figure = failover.etcd_member(tier)
    leader_before, leader_after = figure.note.split("leader ")[1].split(" -> ")
    assert leader_before == leader_after
    assert figure.lost == 0
    assert figure.rto is not None
