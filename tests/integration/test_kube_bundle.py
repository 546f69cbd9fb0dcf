"""`deployer bundle build` of a kubernetes environment from the local Docker daemon, then `registry push`.

Two small images are built locally (FROM scratch, no registry involved), the bundle exports them
as OCI archives, and `deployer registry push --bundle FILE.tar.zst` verifies the signed bundle
and pushes its images to a real registry (Debian's docker-registry) on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.bundle import keys
from tests.integration.test_kube_registry import (
    _digest_from_daemon,
    _docker_image,
    _served_digest,
    registry_server,
)
from tests.unit.kube_env import k8s_prod_with, offline_providers

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
APP = "kubebundle/mattermost"
POSTGRES = "kubebundle/postgresql"

__all__ = ["registry_server"]  # a fixture this module uses


def _environment(tmp_path: Path, registry: str, app: str, postgres: str) -> Path:
    """k8s-prod with both images in use (CloudNativePG), the local registry and its own keys."""
    replacements = {
        r"^  mattermost_image: .*$": f"  mattermost_image: {APP}:10.5.2@{app}",
        r"^  postgres_image: .*$": f"  postgres_image: {POSTGRES}:15@{postgres}",
        r"^  registry: .*$": f"  registry: {registry}",
        r"^  database: external$": "  database: cloudnativepg",
    }
    text = k8s_prod_with(replacements)
    folder = tmp_path / "k8s-prod"
    folder.mkdir()
    (folder / "topology.yml").write_text(text)
    keys.generate(folder / "keys", with_repo_key=False)
    return folder


@pytest.fixture
def local_images(tmp_path: Path) -> Iterator[None]:
    """Two images built in the local daemon for this test, removed again afterwards."""
    tags = [f"{APP}:10.5.2", f"{POSTGRES}:15"]
    try:
        _docker_image(tmp_path, tags[0], "bundle app")
        _docker_image(tmp_path, tags[1], "bundle db")
        yield
    finally:
        subprocess.run(["docker", "rmi", *tags], capture_output=True, check=False)


@pytest.mark.usefixtures("local_images")
def test_bundle_from_the_docker_daemon_is_pushed_from_the_signed_file(
    tmp_path: Path, registry_server: str, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("deployer.bundle.build.default_providers", offline_providers)
    app = _digest_from_daemon(tmp_path, f"{APP}:10.5.2")
    db = _digest_from_daemon(tmp_path, f"{POSTGRES}:15")
    env = _environment(tmp_path, registry_server, app, db)

    built = run_cli("bundle", "build", "-i", str(env))
    assert built.code == 0, built.err
    assert "export the images from the local Docker daemon" in built.err + built.out
    bundle = env / "out" / "k8s-prod.tar.zst"
    assert run_cli("bundle", "verify", "-i", str(env)).code == 0
    manifest = json.loads(run_cli("bundle", "inspect", str(bundle), "--format", "json").out)["manifest"]
    images = {(f["name"], f["version"]) for f in manifest["files"] if f["kind"] == "image"}
    assert images == {(APP, f"10.5.2@{app}"), (POSTGRES, f"15@{db}")}
    assert [f["path"] for f in manifest["files"] if f["kind"] == "chart"] == [
        "kube/charts/mattermost-ha-0.1.0.tgz"
    ]

    pushed = run_cli("registry", "push", "-i", str(env), "--bundle", str(bundle), "--plain-http")
    assert pushed.code == 0, pushed.err
    assert f"2 images in {registry_server}, each checked by digest" in pushed.out
    assert _served_digest(registry_server, APP, app) == app
    assert _served_digest(registry_server, APP, "10.5.2") == app
    assert _served_digest(registry_server, POSTGRES, db) == db

    # The same daemon images give a byte-identical bundle: the build is reproducible.
    first = bundle.read_bytes()
    assert run_cli("bundle", "build", "-i", str(env)).code == 0
    assert bundle.read_bytes() == first
