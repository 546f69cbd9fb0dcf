"""Bundle images as OCI archives, push them to a real registry on 127.0.0.1, check by digest."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployer.cli.registry import registry
from deployer.kube.artifacts import write_kube_payload
from deployer.kube.images import ImageRef
from deployer.kube.oci import (
    ImageDigestMismatchError,
    archive_digest,
    export_from_docker,
)
from deployer.topology import load_environment
from tests.unit.kube_env import add_image

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "inventories" / "k8s-prod" / "topology.yml"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry_server(tmp_path):
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: apt-get install -y docker-registry (make lab-prereqs)")
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'store'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _served_digest(address: str, repo: str, reference: str) -> str:
    request = urllib.request.Request(
        f"http://{address}/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback http
        body = resp.read()
        assert resp.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
        return resp.headers["Docker-Content-Digest"]


def _topology(tmp_path: Path, registry_address: str, mattermost: str, postgres: str) -> Path:
    lines = []
    for original in PROD.read_text().splitlines():
        line = original
        if "mattermost_image:" in line:
            line = f"  mattermost_image: {mattermost}"
        elif "postgres_image:" in line:
            line = f"  postgres_image: {postgres}"
        elif line.startswith("  registry:"):
            line = f"  registry: {registry_address}"
        elif line.startswith("  database: external"):
            line = "  database: cloudnativepg"
        lines.append(line)
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "topology.yml").write_text("\n".join(lines) + "\n")
    return folder


def _docker_image(tmp_path: Path, tag: str, content: str) -> None:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode
    ):
        pytest.fail("no Docker engine: install docker.io and start dockerd (make lab-prereqs)")
    context = tmp_path / f"ctx-{content}"
    context.mkdir()
    (context / "payload.txt").write_text(content)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /payload.txt\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True)


def _digest_from_daemon(tmp_path: Path, tag: str) -> str:
    return export_from_docker(ImageRef.parse(tag), tmp_path / f"probe-{tag.replace('/', '_')}.tar").digest


def test_images_from_the_docker_daemon_are_bundled_pushed_and_checked_by_digest(tmp_path, registry_server):
    _docker_image(tmp_path, "kubetest/mattermost:10.5.2", "app")
    _docker_image(tmp_path, "kubetest/postgresql:15", "db")
    app = _digest_from_daemon(tmp_path, "kubetest/mattermost:10.5.2")
    db = _digest_from_daemon(tmp_path, "kubetest/postgresql:15")
    env_dir = _topology(
        tmp_path, registry_server, f"kubetest/mattermost:10.5.2@{app}", f"kubetest/postgresql:15@{db}"
    )
    payload = write_kube_payload(load_environment(inventory=str(env_dir)), tmp_path / "bundle" / "kube")
    assert payload.chart_package.name == "mattermost-ha-0.1.0.tgz"
    assert sorted(archive_digest(a.path) for a in payload.archives) == sorted([app, db])
    # Exporting again gives byte-identical archives: a bundle is reproducible.
    again = write_kube_payload(load_environment(inventory=str(env_dir)), tmp_path / "again" / "kube")
    assert [a.path.read_bytes() for a in again.archives] == [a.path.read_bytes() for a in payload.archives]

    started = time.monotonic()
    result = CliRunner().invoke(
        registry, ["push", "-i", str(env_dir), "--bundle", str(tmp_path / "bundle"), "--plain-http"]
    )
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert f"2 images in {registry_server}, each checked by digest" in result.output
    print(f"\npush of 2 images: {seconds:.2f} s")
    assert _served_digest(registry_server, "kubetest/mattermost", app) == app
    assert _served_digest(registry_server, "kubetest/mattermost", "10.5.2") == app
    assert _served_digest(registry_server, "kubetest/postgresql", db) == db

    # A second push sends no blob again.
    second = CliRunner().invoke(
        registry, ["push", "-i", str(env_dir), "--bundle", str(tmp_path / "bundle"), "--plain-http"]
    )
    assert second.exit_code == 0, second.output
    assert "0 blobs sent" in second.output


def test_images_from_an_oci_layout_keep_their_upstream_digest(tmp_path, registry_server):
    layout = tmp_path / "layout"
    app = add_image(layout, "10.5.2", b"mattermost stand-in\n")
    db = add_image(layout, "15", b"postgres stand-in\n")
    env_dir = _topology(
        tmp_path,
        registry_server,
        f"mattermost/mattermost-enterprise-edition:10.5.2@{app}",
        f"cloudnative-pg/postgresql:15@{db}",
    )
    write_kube_payload(load_environment(inventory=str(env_dir)), tmp_path / "bundle", layout_dir=layout)
    with tarfile.open(tmp_path / "bundle.tar", "w") as tar:
        tar.add(tmp_path / "bundle", arcname="bundle")
    result = CliRunner().invoke(
        registry, ["push", "-i", str(env_dir), "--bundle", str(tmp_path / "bundle.tar"), "--plain-http"]
    )
    assert result.exit_code == 0, result.output
    assert _served_digest(registry_server, "mattermost/mattermost-enterprise-edition", "10.5.2") == app
    assert _served_digest(registry_server, "cloudnative-pg/postgresql", db) == db


def test_a_pinned_digest_that_differs_from_the_image_is_refused(tmp_path):
    layout = tmp_path / "layout"
    add_image(layout, "10.5.2", b"one\n")
    db = add_image(layout, "15", b"two\n")
    env_dir = _topology(
        tmp_path,
        "127.0.0.1:1",
        "mattermost/mattermost-enterprise-edition:10.5.2@sha256:" + "1" * 64,
        f"cloudnative-pg/postgresql:15@{db}",
    )
    with pytest.raises(ImageDigestMismatchError, match="is pinned to sha256:1111"):
        write_kube_payload(load_environment(inventory=str(env_dir)), tmp_path / "bundle", layout_dir=layout)


def test_a_registry_that_is_down_is_a_clear_error(tmp_path):
    layout = tmp_path / "layout"
    app = add_image(layout, "10.5.2", b"a\n")
    db = add_image(layout, "15", b"b\n")
    env_dir = _topology(
        tmp_path,
        f"127.0.0.1:{_free_port()}",
        f"mattermost/mattermost-enterprise-edition:10.5.2@{app}",
        f"cloudnative-pg/postgresql:15@{db}",
    )
    write_kube_payload(load_environment(inventory=str(env_dir)), tmp_path / "bundle", layout_dir=layout)
    result = CliRunner().invoke(
        registry, ["push", "-i", str(env_dir), "--bundle", str(tmp_path / "bundle"), "--plain-http"]
    )
    assert result.exit_code != 0
    assert "cannot reach the registry" in str(result.exception)
