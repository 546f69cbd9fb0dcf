"""The air-gapped run: staging deployed ON the bastion from the carried bundle, then checked.

The deploy itself happens in the package fixture (conftest.py); these tests look at its result,
from the bastion (health, a second deploy) and as the site's users would (through the VIP).
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlparse

import pytest

from tests.integration.cluster.conftest import ENV, START_VERSION, Cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(7200)]

SUMMARY = re.compile(
    r"deployed (?P<env>\S+) in \d+ s: (?P<changed>\d+) change\(s\) on (?P<hosts>\d+) host\(s\)"
)
CHANNEL = "e2e" + "0" * 23  # Mattermost ids are 26 lower-case letters and digits


def _summary(out: str) -> dict[str, str]:
    found = SUMMARY.search(out)
    assert found, out[-2000:]
    return found.groupdict()


def _recap(out: str) -> dict[str, list[str]]:
    """The per-host table the deploy ends with: host -> [ok, changed, failed, unreachable, skipped]."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 6 and cells[0].startswith("stg-") and all(c.isdigit() for c in cells[1:]):
            rows[cells[0]] = cells[1:]
    return rows


def test_first_deploy_on_the_bastion_reached_every_host(cluster: Cluster) -> None:
    summary = _summary(cluster.first_deploy.out)
    assert summary["env"] == ENV
    assert int(summary["changed"]) > 0
    recap = _recap(cluster.first_deploy.out)
    hosts = {h.name for h in cluster.env.topology.hosts} - {"stg-bastion"}
    assert set(recap) == hosts
    assert all(row[2] == "0" and row[3] == "0" for row in recap.values()), recap


def test_the_bastion_had_no_route_out(cluster: Cluster) -> None:
    routes = cluster.on_bastion("ip -4 route show default")
    assert routes.code == 0
    assert routes.out.strip() == ""


def test_health_on_the_bastion_is_all_ok(cluster: Cluster) -> None:
    done = cluster.deployer_on_bastion("health", "-i", f"inventories/{ENV}", "--format", "json")
    report = json.loads(done.out)
    failing = [c for c in report["checks"] if c["status"] != "ok"]
    assert done.code == 0, failing
    assert failing == []
    assert all(f["survives"] for f in report["failover"]), report["failover"]


def test_no_secret_in_the_deploy_output_log_or_render(cluster: Cluster) -> None:
    log = re.search(r"^log: (\S+)$", cluster.first_deploy.out, re.MULTILINE)
    assert log, cluster.first_deploy.out[-2000:]
    texts = [
        cluster.first_deploy.out,
        cluster.first_deploy.err,
        cluster.read_from_bastion(log.group(1)).decode(),
    ]
    rendered = cluster.on_bastion(f"find build/{ENV} -type f -exec cat {{}} +")
    assert rendered.code == 0
    assert "inventory" in rendered.out or "all:" in rendered.out  # the render directory was read
    texts.append(rendered.out)
    exported = cluster.on_bastion(f"cat build/{ENV}/{ENV}-ca.crt")  # public: for the site's browsers
    assert (exported.code, exported.out.strip()) == (0, cluster.secrets.ca.cert.strip())
    values = list(cluster.secrets.values())
    assert values
    leaked = [value[:4] + "..." for value in values if any(value in text for text in texts)]
    assert leaked == []


def test_every_app_node_answers_in_one_cluster_on_one_version(cluster: Cluster) -> None:
    from deployer.health.http import request  # noqa: PLC0415

    env = cluster.env
    names = sorted(h.name for h in env.topology.hosts if "app" in h.roles)
    for host in (h for h in env.topology.hosts if "app" in h.roles):
        address = str(host.address)
        ping = request("GET", address, 8065, "/api/v4/system/ping?get_server_status=true", timeout=10)
        doc = ping.json()
        assert ping.status == 200, doc
        assert (doc["status"], doc["database_status"], doc["filestore_status"]) == ("OK", "OK", "OK")
        status = request("GET", address, 8065, "/api/v4/cluster/status", timeout=10).json()
        assert sorted(n["hostname"] for n in status if n["is_alive"]) == names
        assert {n["version"] for n in status} == {START_VERSION}
        assert len({n["config_hash"] for n in status}) == 1


def test_a_post_through_the_vip_and_a_file_through_one_node_are_read_everywhere(cluster: Cluster) -> None:
    from deployer.health.http import request, tls_context  # noqa: PLC0415

    env = cluster.env
    vip = str(env.topology.loadbalancer.vip)
    site = urlparse(env.topology.mattermost.site_url).hostname or ""
    message = f"through the VIP over HTTPS {uuid.uuid4()}"
    created = request(
        "POST",
        vip,
        443,
        "/api/v4/posts",
        timeout=10,
        body=json.dumps({"channel_id": CHANNEL, "message": message}).encode(),
        tls=tls_context(cluster.secrets.ca.cert),
        server_name=site,
        headers={"Content-Type": "application/json"},
    )
    assert created.status == 201, created.body
    post_id = created.json()["id"]
    nodes = [str(h.address) for h in env.topology.hosts if "app" in h.roles]
    content = f"uploaded through {nodes[0]} {uuid.uuid4()}".encode()
    upload = request(
        "POST",
        nodes[0],
        8065,
        f"/api/v4/files?channel_id={CHANNEL}&filename=e2e.txt",
        timeout=15,
        body=content,
    )
    assert upload.status == 201, upload.body
    file_id = upload.json()["file_infos"][0]["id"]
    for node in nodes:
        post = request("GET", node, 8065, f"/api/v4/posts/{post_id}", timeout=10)
        assert (post.status, post.json()["message"]) == (200, message)
        got = request("GET", node, 8065, f"/api/v4/files/{file_id}", timeout=15)
        assert (got.status, got.body) == (200, content)
    plain = request("GET", vip, 80, "/", timeout=10)
    assert plain.status in {301, 302, 308}
    assert plain.headers["location"].startswith("https://")


def test_a_second_deploy_on_the_bastion_changes_nothing(cluster: Cluster) -> None:
    again = cluster.deployer_on_bastion("deploy", "-i", f"inventories/{ENV}")
    print(f"no-op deploy on the bastion: {again.seconds:.0f} s")
    assert again.code == 0, again.err
    changed = {host: row[1] for host, row in _recap(again.out).items() if row[1] != "0"}
    assert changed == {}, again.out[-4000:]
    assert _summary(again.out)["changed"] == "0"
