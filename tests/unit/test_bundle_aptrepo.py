"""The bundle's apt repository index: reproducible bytes and a Release signature gpgv accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deployer.bundle import keys
from deployer.bundle.aptrepo import KEYRING_NAME, Deb, build_repository, control_fields

pytestmark = pytest.mark.skipif(
    not (shutil.which("gpg") and shutil.which("gpgv") and shutil.which("dpkg-deb")),
    reason="needs gnupg, gpgv and dpkg (every Debian machine has them)",
)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deb")
    (root / "pkg" / "DEBIAN").mkdir(parents=True)
    (root / "pkg" / "DEBIAN" / "control").write_text(
        "Package: hello-bundle\nVersion: 1:1.0-1\nArchitecture: all\n"
        "Maintainer: Test <test@example.invalid>\nDescription: a test package\n"
    )
    (root / "pkg" / "usr" / "share").mkdir(parents=True)
    (root / "pkg" / "usr" / "share" / "hello").write_text("hello\n")
    out = root / "hello-bundle_1.0-1_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(root / "pkg"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def repo_key() -> bytes:
    secret, _ = keys.generate_repo_key()
    return secret


def test_control_fields_read_without_dpkg(deb: Path) -> None:
    fields = control_fields(deb)
    assert "Package: hello-bundle" in fields
    assert "Version: 1:1.0-1" in fields


def test_same_debs_give_the_same_signed_repository(tmp_path: Path, deb: Path, repo_key: bytes) -> None:
    debs = [Deb(deb, f"pool/main/{deb.name}")]
    first = build_repository(debs, "bookworm", tmp_path / "a", secret_key=repo_key, epoch=1704067200)
    second = build_repository(debs, "bookworm", tmp_path / "b", secret_key=repo_key, epoch=1704067200)
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    packages = (tmp_path / "a" / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages").read_text()
    assert f"Filename: pool/main/{deb.name}" in packages
    assert "SHA256: " in packages


def test_gpgv_accepts_the_release_signature_and_refuses_a_change(
    tmp_path: Path, deb: Path, repo_key: bytes
) -> None:
    build_repository([Deb(deb, f"pool/main/{deb.name}")], "bookworm", tmp_path, secret_key=repo_key, epoch=0)
    keyring = tmp_path / KEYRING_NAME
    dists = tmp_path / "dists" / "bookworm"
    ok = subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(dists / "InRelease")], capture_output=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    detached = subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(dists / "Release.gpg"), str(dists / "Release")],
        capture_output=True,
        check=False,
    )
    assert detached.returncode == 0, detached.stderr
    (dists / "Release").write_text((dists / "Release").read_text().replace("bookworm", "trixie"))
    changed = subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(dists / "Release.gpg"), str(dists / "Release")],
        capture_output=True,
        check=False,
    )
    assert changed.returncode != 0
