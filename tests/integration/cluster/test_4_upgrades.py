"""Upgrades of the deployed staging cluster: rolling under load, a broken target, resume, a window.

Runs last in this package: it leaves the cluster on a newer version. Each step builds the bundle
holding the target stand-in tarball (connected side) and runs `deployer upgrade run` from here.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest
import yaml

from deployer.cli.main import main
from deployer.health.http import HttpError, request, tls_context
from deployer.lab import ssh
from deployer.upgrade import state
from tests.integration.cluster.conftest import ENV, Cluster, build_bundle

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]


@dataclass
class Upgrades:
    inventory: Path
    tarballs: Path
    ca_pem: str
    vip: str
    site_host: str
    app_nodes: dict[str, str] = field(default_factory=dict)

    def with_version(self, version: str, broken: bool = False) -> None:
        """Point the topology at `version` and build the bundle holding that stand-in tarball."""
        topology = self.inventory / "topology.yml"
        data = yaml.safe_load(topology.read_text())
        data["mattermost"]["version"] = version
        topology.write_text(yaml.safe_dump(data, sort_keys=False))
        build_bundle(self.inventory, version, self.tarballs, broken=broken)

    def upgrade(self, *args: str) -> int:
        return main(["upgrade", "run", "-i", str(self.inventory), *args])

    def versions(self) -> dict[str, str]:
        found = {}
        for name, address in self.app_nodes.items():
            answer = request("GET", address, 8065, "/api/v4/system/ping", timeout=5)
            found[name] = answer.headers.get("x-version-id", "").rsplit(".", 3)[0]
        return found

    def migration_runs(self, version: str) -> int:
        major, minor, _ = (int(p) for p in version.split("."))
        sql = f"select count(*) from standinmigrationruns where version = {major * 1000 + minor}"  # noqa: S608 - numbers only
        host = next(iter(self.app_nodes))
        command = (
            "sudo sh -c 'set -a; . /etc/mattermost/mattermost.env; exec python3 -c "
            '"import os,psycopg2;c=psycopg2.connect(os.environ[\\"MM_SQLSETTINGS_DATASOURCE\\"]);'
            f'k=c.cursor();k.execute(\\"{sql}\\");print(k.fetchone()[0])"\''
        )
        rc, out, err = ssh.run(ENV, host, command)
        assert rc == 0, err
        return int(out.strip())


class Load:
    """Requests through the VIP (HTTPS, the environment's CA) as fast as one thread goes."""

    def __init__(self, cluster: Upgrades) -> None:
        self.cluster = cluster
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._tls: ssl.SSLContext = tls_context(cluster.ca_pem)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                answer = request(
                    "GET",
                    self.cluster.vip,
                    443,
                    "/api/v4/system/ping",
                    timeout=10,
                    tls=self._tls,
                    server_name=self.cluster.site_host,
                )
                if answer.status == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"HTTP {answer.status}")
            except HttpError as exc:
                self.failed.append(str(exc))
            time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster_upgrades(cluster: Cluster) -> Upgrades:
    topo = cluster.env.topology
    return Upgrades(
        cluster.inventory,
        cluster.work / "tarballs",
        ca_pem=cluster.secrets.ca.cert,
        vip=str(topo.loadbalancer.vip),
        site_host=topo.mattermost.site_url.split("//")[1],
        app_nodes={h.name: str(h.address) for h in topo.hosts if "app" in h.roles},
    )


def test_patch_upgrade_under_load_loses_no_request(cluster_upgrades: Upgrades) -> None:
    cluster_upgrades.with_version("10.5.3")
    started = time.monotonic()
    with Load(cluster_upgrades) as load:
        code = cluster_upgrades.upgrade("--to", "10.5.3")
    seconds = time.monotonic() - started
    print(f"patch upgrade: {seconds:.1f}s, {load.ok} requests ok, {len(load.failed)} failed")
    assert code == 0
    assert load.failed == []
    assert load.ok > 100
    assert set(cluster_upgrades.versions().values()) == {"10.5.3"}
    assert main(["health", "-i", str(cluster_upgrades.inventory)]) == 0  # one config hash, all alive


def test_broken_target_rolls_back_and_keeps_serving(cluster_upgrades: Upgrades) -> None:
    cluster_upgrades.with_version("10.5.4", broken=True)
    with Load(cluster_upgrades) as load:
        # a short node gate: the broken node never answers OK, so no need to wait the default 5 min
        code = cluster_upgrades.upgrade("--to", "10.5.4", "--node-timeout", "45")
    assert code == 3
    assert set(cluster_upgrades.versions().values()) == {"10.5.3"}
    assert load.failed == []
    saved = state.load(ENV)
    assert saved is not None
    assert saved.status is state.RunStatus.ROLLED_BACK


def test_interrupted_run_resumes_without_repeating_a_step(cluster_upgrades: Upgrades) -> None:
    cluster_upgrades.with_version("10.5.5")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "deployer"),
            "upgrade",
            "run",
            "-i",
            str(cluster_upgrades.inventory),
            "--to",
            "10.5.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("[5/") and "switch-" in line:  # half-way: the first node is being switched
            process.kill()
            break
    process.wait(timeout=60)
    before = state.load(ENV)
    assert before is not None
    assert before.status is state.RunStatus.RUNNING
    done_before = before.done()
    assert cluster_upgrades.upgrade("--to", "10.5.5", "--resume") == 0
    after = state.load(ENV)
    assert after is not None
    assert after.status is state.RunStatus.DONE
    # A step finished before the kill kept its record (it was not run again).
    for record in after.steps:
        if record.id in done_before:
            assert record == before.record(record.id)
    assert set(cluster_upgrades.versions().values()) == {"10.5.5"}


def test_minor_upgrade_migrates_once_in_a_measured_window(cluster_upgrades: Upgrades) -> None:
    cluster_upgrades.with_version("10.6.0")
    assert cluster_upgrades.migration_runs("10.6.0") == 0
    assert cluster_upgrades.upgrade("--to", "10.6.0") == 0
    saved = state.load(ENV)
    assert saved is not None
    closed, opened = saved.record("close-frontends"), saved.record("open-frontends")
    assert closed is not None
    assert opened is not None
    assert opened.finished is not None
    print(f"minor upgrade: downtime window {opened.finished - closed.started:.1f}s")
    assert cluster_upgrades.migration_runs("10.6.0") == 1
    assert set(cluster_upgrades.versions().values()) == {"10.6.0"}
