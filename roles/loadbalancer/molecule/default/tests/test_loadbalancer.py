"""The loadbalancer role on two lab hosts: HAProxy's frontends on both, the VIP on one, and it moves."""

from __future__ import annotations

import csv
import io
import time
from urllib.parse import urlparse

import pytest
import testinfra

from deployer.health.http import request, tls_context
from tests.molecule.checks import assert_serving
from tests.molecule.lab import read_secrets

testinfra_hosts = ["loadbalancer"]

FRONTENDS = (
    "haproxy_http",
    "haproxy_https",
    "haproxy_db_write",
    "haproxy_db_read",
    "haproxy_s3",
    "haproxy_stats",
)


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def balancers(request: pytest.FixtureRequest) -> dict[str, testinfra.host.Host]:
    """Every load balancer, for the checks that look at the pair rather than one host."""
    inventory = request.config.option.ansible_inventory
    names = testinfra.utils.ansible_runner.AnsibleRunner(inventory).get_hosts("loadbalancer")
    assert len(names) == 2
    return {name: testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory) for name in names}


@pytest.fixture(scope="module")
def settings(balancers) -> dict[str, object]:
    return next(iter(balancers.values())).ansible.get_variables()


def holders(balancers, vip: str) -> list[str]:
    return [name for name, h in balancers.items() if f" {vip}/" in h.check_output("ip -o -4 addr show")]


def wait_for_holder(balancers, vip: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = holders(balancers, vip)
        if len(found) == 1 or time.monotonic() > deadline:
            assert len(found) == 1, f"VIP {vip} held by {found}"
            return found[0]
        time.sleep(0.5)


def test_haproxy_and_keepalived_run_with_a_valid_configuration(host, hostvars) -> None:
    assert_serving(host, ["haproxy", "keepalived"])
    host.run_expect([0], "haproxy -c -q -f /etc/haproxy/haproxy.cfg")
    keepalived = host.file("/etc/keepalived/keepalived.conf").content_string
    assert f"priority {hostvars['keepalived_priority']}\n" in keepalived
    peer = next(p for p in hostvars["keepalived_peers"] if p != hostvars["ansible_host"])
    assert f"unicast_src_ip {hostvars['ansible_host']}\n" in keepalived
    assert f"        {peer}\n" in keepalived


def test_every_frontend_listens(host, hostvars) -> None:
    assert_serving(host, [], "0.0.0.0", [hostvars["deployer_ports"][name] for name in FRONTENDS])  # noqa: S104


def test_the_stats_page_lists_the_rendered_backends(hostvars) -> None:
    answer = request(
        "GET", hostvars["ansible_host"], hostvars["deployer_ports"]["haproxy_stats"], "/stats;csv", timeout=5
    )
    assert answer.status == 200
    rows = list(csv.DictReader(io.StringIO(answer.body.decode().lstrip("# "))))
    servers = {(r["pxname"], r["svname"]) for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}
    expected = {("mattermost_app", b["name"]) for b in hostvars["haproxy_app_backends"]}
    for proxy in ("postgresql_write", "postgresql_read"):
        expected |= {(proxy, b["name"]) for b in hostvars["haproxy_db_backends"]}
    assert servers == expected
    assert {r["pxname"] for r in rows if r["svname"] == "FRONTEND" and r["status"] == "OPEN"} >= {
        "mattermost_http",
        "mattermost_https",
    }


def test_exactly_one_balancer_holds_the_vip_and_serves_https_on_it(balancers, settings) -> None:
    vip = str(settings["keepalived_vip"])
    wait_for_holder(balancers, vip)
    plain = request("GET", vip, 80, "/", timeout=5)
    assert plain.status == 301
    site = urlparse(str(settings["mattermost_site_url"])).hostname or ""
    assert plain.headers["location"] == f"https://{vip}/"
    ca = read_secrets(str(settings["deployer_environment"])).ca.cert
    # The site certificate (issued by the environment's CA) for the site's name; no app node
    # runs in this scenario, so HAProxy itself answers that none is available.
    secure = request("GET", vip, 443, "/", timeout=5, tls=tls_context(ca), server_name=site)
    assert secure.status == 503


def test_the_vip_moves_when_haproxy_stops_on_its_holder(balancers, settings) -> None:
    vip = str(settings["keepalived_vip"])
    before = wait_for_holder(balancers, vip)
    balancers[before].run_expect([0], "systemctl stop haproxy")
    try:
        deadline = time.monotonic() + 20
        while holders(balancers, vip) != [n for n in balancers if n != before]:
            assert time.monotonic() < deadline, f"the VIP stayed on {before}"
            time.sleep(0.5)
        assert request("GET", vip, 80, "/", timeout=5).status == 301
    finally:
        balancers[before].run_expect([0], "systemctl start haproxy")
    # nopreempt: the healed balancer does not take the VIP back.
    time.sleep(3)
    assert holders(balancers, vip) == [n for n in balancers if n != before]
