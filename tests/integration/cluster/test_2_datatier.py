"""The data tier of the deployed staging cluster: writes through the VIP, then one host of each tier broken.

Each fault is healed before the next test. Recovery times are benchmark figures (bench/failover.py
prints them); here the assertions are that service comes back and nothing acknowledged is lost.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deployer.lab import ssh as lab_ssh
from tests.integration.cluster.conftest import Cluster
from tests.integration.datatier_probes import S3, connect

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(7200)]

ROOT = Path(__file__).resolve().parents[3]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_failover", ROOT / "bench" / "failover.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_failover"] = module
    spec.loader.exec_module(module)
    return module


failover = _bench()


@pytest.fixture(scope="module")
def tier(cluster: Cluster) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPLOYER_STATE_DIR", str(cluster.state))
        return failover.Tier.load(cluster.env)


def test_writes_through_the_vip_and_read_after_write_across_gateways(tier: Any) -> None:
    secrets = tier.secrets
    conn: Any = connect(tier.vip, 5432, secrets.mattermost_db_password)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS e2e (id serial PRIMARY KEY, note text)")
            cur.execute("INSERT INTO e2e (note) VALUES ('through the VIP') RETURNING id")
            assert cur.fetchone()[0] >= 1
            cur.execute("SELECT pg_is_in_recovery()")
            assert cur.fetchone()[0] is False
    finally:
        conn.close()
    gateways = [
        S3(address, 8333, secrets.s3_access_key, secrets.s3_secret_key) for address in tier.storage.values()
    ]
    for n in range(9):
        body = f"object {n}".encode()
        assert gateways[n % len(gateways)].put("mattermost", f"e2e/raw-{n}", body) == 200
        # Read through EVERY gateway at once: one shared filer store, so no gateway lags.
        assert [g.get("mattermost", f"e2e/raw-{n}") for g in gateways] == [(200, body)] * len(gateways)


def test_patroni_answers_the_load_balancers_checks_cleanly(tier: Any) -> None:
    """Two load balancers check every member twice a second: none of those checks may fail inside Patroni.

    A failing local replication connection (pg_hba) or a check that cuts Patroni's answer short
    (GET instead of OPTIONS) shows up in its journal several times a second on every member.
    """
    time.sleep(5)
    for name in tier.db:
        code, out, err = lab_ssh.run(
            tier.env.name,
            name,
            "sudo -n journalctl -u patroni --since=-5s --no-pager -o cat",
            timeout=30,
        )
        assert code == 0, err
        assert "Can not fetch local timeline" not in out, f"{name}: {out[-2000:]}"
        assert "Exception happened during processing of request" not in out, f"{name}: {out[-2000:]}"
        # the journal was read: Patroni logs its loop every second
        assert "no action. I am" in out, f"{name}: no loop line from Patroni in 5 s: {out[-2000:]}"


def test_database_leader_killed(tier: Any) -> None:
    figure = failover.database_leader(tier, "kill", "deployer")
    print(f"database leader killed: RTO {figure.rto} s, {figure.lost} lost of {figure.acknowledged}")
    assert figure.rto is not None, "writes never succeeded again"
    assert figure.lost == 0
    assert figure.acknowledged > 0
    assert "back as replica" in figure.note


def test_loadbalancer_holding_the_vip_stopped(tier: Any) -> None:
    figure = failover.loadbalancer(tier, "stop")
    print(f"VIP holder stopped: back after {figure.rto} s ({figure.note})")
    assert figure.rto is not None
    assert figure.lost == 0
    before, after = figure.note.removeprefix("VIP ").split(" -> ")
    assert before != after
    assert tier.s3().put("mattermost", "e2e/after-vip-move", b"x") == 200


def test_storage_host_killed(tier: Any) -> None:
    figure = failover.storage_host(tier)
    print(f"storage host killed: {figure.note}")
    assert figure.rto is not None
    assert figure.lost == 0
    assert "old objects unreadable: 0" in figure.note
    assert "replication restored" in figure.note


def test_etcd_member_killed(tier: Any) -> None:
    figure = failover.etcd_member(tier)
    leader_before, leader_after = figure.note.split("leader ")[1].split(" -> ")
    assert leader_before == leader_after
    assert figure.lost == 0
    assert figure.rto is not None
