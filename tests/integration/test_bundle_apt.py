"""The bundle's apt repository for real: a lab host with no way out installs PostgreSQL 15 from it."""

from __future__ import annotations

import functools
import http.server
import ipaddress
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.bundle import keys
from deployer.bundle.aptrepo import KEYRING_NAME
from deployer.bundle.base import ensure_base_image
from deployer.bundle.build import BuildOptions, build_environment
from deployer.bundle.progress import Reporter
from deployer.bundle.providers.apt import AptRepositoryProvider
from deployer.bundle.unpack import unpack
from deployer.lab.hosts import RUN_FLAGS
from deployer.topology import load_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
# Downloads are cached with the other builds, so a rerun resolves nothing from the network.
CACHE = ROOT / "build" / "cache" / "bundle"
SUBNETS = [f"10.213.{n}.0/24" for n in range(240, 250)]
# The lab's own systemd-in-a-container flags (LAB.md: --privileged does not work here).
SYSTEMD_FLAGS = list(RUN_FLAGS)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=600)


@dataclass(frozen=True)
class Repo:
    store_release: Path
    pubkey: Path
    other_keyring: bytes


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The dev environment's OS package repository, built, carried (a copy) and unpacked."""
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.fail("Docker does not answer; run `make lab-prereqs` first")
    tmp = tmp_path_factory.mktemp("bundle")
    envdir = tmp / "dev"
    envdir.mkdir()
    topology = (ROOT / "inventories" / "dev" / "topology.yml").read_text()
    topology = topology.replace("../../build/bundles/dev.tar.zst", "out/dev.tar.zst")
    topology = topology.replace("../../build/keys/bundle.pub", "keys/bundle.pub")
    (envdir / "topology.yml").write_text(topology)
    keys.generate(envdir / "keys")
    start = time.monotonic()
    result = build_environment(
        load_environment(inventory=str(envdir)),
        BuildOptions(cache=CACHE),
        reporter=Reporter(interactive=False),
        providers=[AptRepositoryProvider()],
    )
    print(
        f"apt part of dev: {len(result.manifest.files)} files, {result.size} bytes, "
        f"{time.monotonic() - start:.1f}s"
    )
    carried = tmp / "removable-media" / result.outputs[0].name
    carried.parent.mkdir()
    shutil.copy(result.outputs[0], carried)
    unpacked = unpack(carried, tmp / "store", envdir / "keys" / "bundle.pub")
    keys.generate(tmp / "other-keys")
    other = subprocess.run(
        ["gpg", "--dearmor"],
        input=(tmp / "other-keys" / keys.REPO_PUBLIC_NAME).read_bytes(),
        capture_output=True,
        check=True,
    ).stdout
    return Repo(unpacked.release_dir, envdir / "keys" / "bundle.pub", other)


@pytest.fixture(scope="module")
def airgap() -> Iterator[tuple[str, str]]:
    """An internal network (no route out) created here and removed whatever happens."""
    name = f"deployer-bundle-test-{os.getpid()}"
    created = None
    for subnet in SUBNETS:
        gateway = str(next(ipaddress.ip_network(subnet).hosts()))
        made = docker(
            "network", "create", "--internal", "--subnet", subnet, "--gateway", gateway, name, check=False
        )
        if made.returncode == 0:
            created = gateway
            break
    if created is None:
        pytest.fail(f"no free subnet among {SUBNETS[0]} ... {SUBNETS[-1]} for the test network")
    try:
        info = json.loads(docker("network", "inspect", name).stdout)[0]
        assert info["Internal"] is True
        yield name, created
    finally:
        docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def server(repo: Repo, airgap: tuple[str, str]) -> Iterator[str]:
    """The unpacked repository over HTTP on the internal network's gateway: the bastion's role."""
    _, gateway = airgap
    handler = functools.partial(_QuietHandler, directory=str(repo.store_release / "apt"))
    httpd = http.server.ThreadingHTTPServer((gateway, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{gateway}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class names it
        del format, args


@pytest.fixture
def host(airgap: tuple[str, str]) -> Iterator[str]:
    """A fresh lab host (systemd as PID 1) on the internal network."""
    network, _ = airgap
    image = ensure_base_image("bookworm", Reporter(interactive=False))
    name = f"deployer-bundle-host-{os.getpid()}-{time.monotonic_ns()}"
    docker("run", "-d", "--name", name, "--network", network, *SYSTEMD_FLAGS, image, "/sbin/init")
    try:
        for _ in range(60):
            state = docker("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in {"running", "degraded"}:
                break
            time.sleep(1)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def sh(container: str, script: str) -> subprocess.CompletedProcess[str]:
    return docker("exec", container, "sh", "-c", script, check=False)


def use_bundle_only(container: str, url: str, keyring: bytes) -> None:
    """What the deploy does on a host: the bundle's repository, its key, and no other source."""
    subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", f"cat > /usr/share/keyrings/{KEYRING_NAME}"],
        input=keyring,
        check=True,
    )
    sources = (
        f"Types: deb\\nURIs: {url}\\nSuites: bookworm\\nComponents: main\\n"
        f"Signed-By: /usr/share/keyrings/{KEYRING_NAME}\\n"
    )
    result = sh(
        container,
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; "
        f"printf '{sources}' > /etc/apt/sources.list.d/offline-bundle.sources",
    )
    assert result.returncode == 0, result.stderr


def test_the_host_has_no_route_out(host: str, airgap: tuple[str, str]) -> None:
    routes = sh(host, "ip -4 route").stdout
    assert "default" not in routes
    gateway = ipaddress.ip_address(airgap[1])
    assert any(
        gateway in ipaddress.ip_network(line.split()[0]) for line in routes.splitlines() if "/" in line
    )


def test_without_the_bundle_postgresql_cannot_be_installed(host: str) -> None:
    # No source at all: the lab host knows no package it lacks. Nothing is sent anywhere.
    sh(host, "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*")
    result = sh(host, "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15")
    assert result.returncode != 0
    assert "Unable to locate package postgresql-15" in result.stderr


def test_a_repository_signed_by_another_key_is_refused(host: str, server: str, repo: Repo) -> None:
    use_bundle_only(host, server, repo.other_keyring)
    result = sh(host, "apt-get update")
    assert "NO_PUBKEY" in result.stderr or "not signed" in result.stderr
    install = sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15")
    assert install.returncode != 0


def test_postgresql_installs_from_the_bundle_alone(host: str, server: str, repo: Repo) -> None:
    keyring = (repo.store_release / "apt" / KEYRING_NAME).read_bytes()
    use_bundle_only(host, server, keyring)
    update = sh(host, "apt-get update")
    assert update.returncode == 0, update.stderr
    assert "W:" not in update.stderr, update.stderr
    assert "E:" not in update.stderr, update.stderr
    install = sh(
        host, "DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15 patroni etcd-server haproxy"
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    status = sh(host, "dpkg-query -W -f '${Status} ${Version}\\n' postgresql-15 patroni etcd-server haproxy")
    assert status.stdout.count("install ok installed") == 4, status.stdout
    assert sh(host, "/usr/lib/postgresql/15/bin/postgres --version").stdout.startswith(
        "postgres (PostgreSQL) 15."
    )
