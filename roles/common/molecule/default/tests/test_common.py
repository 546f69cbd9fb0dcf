"""The common role on a lab host: apt reads the bundle only, clock sync, limits, and a firewall that drops."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest
import yaml

from tests.molecule.checks import assert_serving

testinfra_hosts = ["all"]

DEFAULTS = Path(__file__).resolve().parents[4] / "deployer_defaults" / "defaults" / "main.yml"


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def test_apt_reads_the_served_bundle_and_nothing_else(host, hostvars) -> None:
    assert not host.file("/etc/apt/sources.list").exists
    assert host.file("/etc/apt/sources.list.d").listdir() == ["deployer-bundle.sources"]
    sources = host.file("/etc/apt/sources.list.d/deployer-bundle.sources").content_string
    assert f"URIs: {hostvars['deployer_bundle_url']}/apt\n" in sources
    assert "Signed-By: /usr/share/keyrings/deployer-bundle-archive-keyring.gpg\n" in sources
    keyring = host.file("/usr/share/keyrings/deployer-bundle-archive-keyring.gpg")
    expected = hashlib.sha256(Path(hostvars["deployer_bundle_keyring"]).read_bytes()).hexdigest()
    assert keyring.sha256sum == expected
    policy = host.check_output("apt-cache policy chrony")
    assert f"{hostvars['deployer_bundle_url']}/apt bookworm/main amd64 Packages" in policy
    assert (
        host.file("/var/lib/apt/deployer-bundle.digest").content_string.strip()
        == (hostvars["deployer_bundle_digest"])
    )


def test_the_pinned_packages_are_installed(host) -> None:
    packages = yaml.safe_load(DEFAULTS.read_text())["deployer_os_packages"]["common"]
    assert packages
    for name in packages:
        assert host.package(name).is_installed, name


def test_chrony_serves_the_cluster_in_orphan_mode(host, hostvars) -> None:
    assert_serving(host, ["chrony"])
    config = host.file("/etc/chrony/chrony.conf").content_string
    # The only host is the site's time server: it serves the subnet and follows nobody.
    assert hostvars["common_chrony_servers"] == [hostvars["ansible_host"]]
    assert "local stratum 10 orphan\n" in config
    assert f"allow {hostvars['deployer_subnet']}\n" in config
    assert "server " not in config
    assert "Leap status     : Normal" in host.check_output("chronyc -n tracking")
    assert host.socket("udp://0.0.0.0:123").is_listening


def test_limits_reach_logins_and_services(host) -> None:
    limits = host.file("/etc/security/limits.d/90-deployer.conf").content_string
    assert "*    hard nofile 65536\n" in limits
    # The reexec handler made systemd itself take the new defaults: every service inherits them.
    assert host.check_output("systemctl show -p DefaultLimitNOFILE") == "DefaultLimitNOFILE=65536"
    assert host.check_output("systemctl show -p DefaultLimitNPROC") == "DefaultLimitNPROC=8192"
    sysctls = host.file("/etc/sysctl.d/90-deployer.conf").content_string
    assert "net.core.somaxconn = 4096\n" in sysctls


def test_the_firewall_opens_exactly_the_rendered_ports(host, hostvars) -> None:
    assert_serving(host, ["nftables"])
    chain = host.check_output("nft list chain inet deployer input")
    assert "policy drop;" in chain
    tcp = ", ".join(str(p) for p in hostvars["common_firewall_cluster_tcp"])
    assert f"ip saddr {hostvars['deployer_subnet']} tcp dport {{ {tcp} }} accept" in chain


def _connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_a_cluster_port_answers_and_any_other_port_is_dropped(host, hostvars) -> None:
    """Listeners on an open port (8065) and on a closed one (9999); this machine sits in the subnet."""
    address = hostvars["ansible_host"]
    assert 8065 in hostvars["common_firewall_cluster_tcp"]
    assert 9999 not in hostvars["common_firewall_cluster_tcp"]
    for port in (8065, 9999):
        host.run_expect(
            [0],
            f"systemd-run --unit=molecule-listen-{port} python3 -m http.server --bind {address} {port}",
        )
    try:
        deadline = time.monotonic() + 30
        while not all(host.socket(f"tcp://{address}:{port}").is_listening for port in (8065, 9999)):
            assert time.monotonic() < deadline, "the listeners never started"
            time.sleep(0.5)
        assert _connects(address, 8065)
        assert not _connects(address, 9999)
    finally:
        for port in (8065, 9999):
            host.run(f"systemctl stop molecule-listen-{port}")
