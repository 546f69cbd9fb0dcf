"""The bastion's bootstrap kit: the bundle's wheels in a plain tar that gpgv checks before use."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from deployer.bundle import keys
from deployer.bundle.bootstrap import KEYRING_NAME, kit_path, write_kit
from deployer.bundle.errors import BundleInputError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import Staged, stage

pytestmark = pytest.mark.skipif(
    not (shutil.which("gpg") and shutil.which("gpgv")), reason="needs gnupg and gpgv (every Debian machine)"
)
EPOCH = 1704067200


@pytest.fixture(scope="module")
def repo_key() -> bytes:
    secret, _ = keys.generate_repo_key()
    return secret


def _staged(root: Path, names: list[str]) -> list[Staged]:
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for name in names:
        source = root / name
        source.write_bytes(f"wheel {name}".encode())
        kind = Kind.WHEEL if name.endswith(".whl") else Kind.BINARY
        items.append(
            stage(source, f"wheels/{name}", kind=kind, name=name.split("-")[0], version="1", origin="t")
        )
    return items


def _gpgv(keyring: Path, kit: Path) -> subprocess.CompletedProcess[str]:
    signature = kit.with_name(kit.name + ".sig")
    return subprocess.run(
        ["gpgv", "--keyring", str(keyring), str(signature), str(kit)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_kit_holds_the_wheels_and_the_installer_and_gpgv_accepts_it(
    tmp_path: Path, repo_key: bytes
) -> None:
    staged = _staged(
        tmp_path / "src", ["pip-25.0-py3-none-any.whl", "mattermost_deployer-1-py3-none-any.whl", "weed"]
    )
    bundle = tmp_path / "out" / "staging.tar.zst"
    bundle.parent.mkdir()
    written = write_kit(staged, bundle, secret_key=repo_key, keys_dir=tmp_path, epoch=EPOCH)
    kit = kit_path(bundle)
    assert written == [kit, kit.with_name(kit.name + ".sig")]
    with tarfile.open(kit) as archive:
        names = archive.getnames()
        script = archive.extractfile("bootstrap/install.sh")
        assert script is not None
        assert "--no-index" in script.read().decode()
    assert names == [
        "bootstrap/install.sh",
        "bootstrap/wheels/mattermost_deployer-1-py3-none-any.whl",
        "bootstrap/wheels/pip-25.0-py3-none-any.whl",
    ]  # the binary is not a wheel and stays in the bundle only
    checked = _gpgv(tmp_path / KEYRING_NAME, kit)
    assert checked.returncode == 0, checked.stderr
    again = tmp_path / "again" / "staging.tar.zst"
    again.parent.mkdir()
    write_kit(staged, again, secret_key=repo_key, keys_dir=tmp_path, epoch=EPOCH)
    assert kit_path(again).read_bytes() == kit.read_bytes()  # reproducible


def test_a_changed_byte_in_the_kit_fails_gpgv(tmp_path: Path, repo_key: bytes) -> None:
    staged = _staged(tmp_path / "src", ["pip-25.0-py3-none-any.whl"])
    bundle = tmp_path / "staging.tar.zst"
    write_kit(staged, bundle, secret_key=repo_key, keys_dir=tmp_path, epoch=EPOCH)
    kit = kit_path(bundle)
    data = bytearray(kit.read_bytes())
    data[1024] ^= 0x01
    kit.write_bytes(bytes(data))
    checked = _gpgv(tmp_path / KEYRING_NAME, kit)
    assert checked.returncode != 0
    assert "BAD signature" in checked.stderr


def test_without_a_pip_wheel_the_kit_is_refused(tmp_path: Path, repo_key: bytes) -> None:
    staged = _staged(tmp_path / "src", ["mattermost_deployer-1-py3-none-any.whl"])
    with pytest.raises(BundleInputError, match="no pip wheel"):
        write_kit(staged, tmp_path / "staging.tar.zst", secret_key=repo_key, keys_dir=tmp_path, epoch=EPOCH)
