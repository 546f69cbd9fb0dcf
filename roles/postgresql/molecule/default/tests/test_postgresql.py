"""The postgresql role on a lab host: PostgreSQL 15 from the bundle, TLS in place, no cluster yet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.molecule.lab import read_secrets

testinfra_hosts = ["database"]

DEFAULTS = Path(__file__).resolve().parents[4] / "deployer_defaults" / "defaults" / "main.yml"
PKI = "/etc/postgresql/pki"


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def test_the_database_packages_come_from_the_bundle(host, hostvars) -> None:
    packages = yaml.safe_load(DEFAULTS.read_text())["deployer_os_packages"]["database"]
    assert "postgresql-15" in packages
    for name in packages:
        assert host.package(name).is_installed, name
    policy = host.check_output("apt-cache policy postgresql-15")
    assert f"{hostvars['deployer_bundle_url']}/apt bookworm/main amd64 Packages" in policy
    assert host.file("/usr/lib/postgresql/15/bin/postgres").exists


def test_no_cluster_was_created_or_started(host, hostvars) -> None:
    settings = host.file("/etc/postgresql-common/createcluster.d/deployer.conf").content_string
    assert "create_main_cluster = false\n" in settings
    assert host.check_output("pg_lsclusters -h") == ""
    assert not host.file("/var/lib/postgresql/15/main").exists
    assert not host.socket(f"tcp://{hostvars['ansible_host']}:5432").is_listening
    assert host.check_output("pgrep -c -x postgres || true") == "0"
    # Patroni is installed with its unit, but waits for its configuration (the patroni role).
    assert not host.service("patroni").is_running
    assert not host.file("/etc/patroni/config.yml").exists


@pytest.mark.parametrize(
    ("name", "mode", "field"),
    [("ca.crt", 0o644, "ca"), ("server.crt", 0o644, "cert"), ("server.key", 0o600, "key")],
)
def test_the_hosts_tls_material_is_in_place_for_postgres_only(host, hostvars, name, mode, field) -> None:
    secrets = read_secrets(hostvars["deployer_environment"])
    pair = secrets.ca if field == "ca" else secrets.hosts[hostvars["inventory_hostname"]]
    expected = pair.cert if field in {"ca", "cert"} else pair.key
    tls = host.file(f"{PKI}/{name}")
    assert (tls.user, tls.group, tls.mode) == ("postgres", "postgres", mode)
    assert tls.content_string == expected
    folder = host.file(PKI)
    assert (folder.user, folder.mode) == ("postgres", 0o750)
