"""The bastion's bootstrap kit: how a machine with only python3, tar and gpgv gets the deployer.

The bundle is zstd-compressed and its Ed25519 signature is checked by the deployer itself, so on
a bare bastion the deployer cannot come out of the bundle. The kit is a plain tar written next to
the bundle that holds the same wheels the bundle carries (the deployer's, its dependencies and
pip) and `bootstrap/install.sh`, with a detached OpenPGP signature made by the bundle's apt
repository key. `gpgv` (on every Debian and Ubuntu host: apt depends on it) checks the kit
against `apt-repo.pub.gpg`, carried with `bundle.pub`, before anything in it is unpacked:

    gpgv --keyring ./apt-repo.pub.gpg staging.tar.zst.bootstrap.tar.sig staging.tar.zst.bootstrap.tar
    tar xf staging.tar.zst.bootstrap.tar && sh bootstrap/install.sh
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from deployer.bundle.errors import BundleInputError
from deployer.bundle.keys import REPO_KEY_EPOCH, import_repo_key
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import Staged
from deployer.bundle.tools import require, run

KIT_SUFFIX = ".bootstrap.tar"
SIGNATURE_SUFFIX = ".sig"
KEYRING_NAME = "apt-repo.pub.gpg"

INSTALL_SH = """\
#!/bin/sh
# Install the deployer offline from this kit's wheels, into a virtualenv of its own.
#   sh bootstrap/install.sh [VENV_DIR]     (default: $HOME/.local/share/deployer/venv)
# Needs python3 (3.11, with its venv module); no pip, no network. Check the kit's signature
# with gpgv BEFORE unpacking it (see the deployer's README).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$HOME/.local/share/deployer/venv}
pip_wheel=$(ls "$here"/wheels/pip-*.whl | head -n 1)
echo "bootstrap: virtualenv $venv"
python3 -m venv --without-pip "$venv"
echo "bootstrap: pip install --no-index from $here/wheels"
"$venv/bin/python" "$pip_wheel/pip" install --quiet --no-index --find-links "$here/wheels" \\
  mattermost-deployer
echo "bootstrap: installed $venv/bin/deployer"
"""


def kit_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + KIT_SUFFIX)


def write_kit(
    staged: list[Staged], bundle: Path, *, secret_key: bytes, keys_dir: Path, epoch: int
) -> list[Path]:
    """Write the kit, its signature and the verifying keyring; returns the kit and its signature."""
    wheels = sorted((s for s in staged if s.entry.kind is Kind.WHEEL), key=lambda s: s.entry.path)
    if not any(Path(s.entry.path).name.startswith("pip-") for s in wheels):
        raise BundleInputError(
            "the bundle's wheels hold no pip wheel, so the bastion kit cannot install them"
        )
    kit = kit_path(bundle)
    tmp = kit.with_name(kit.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, "bootstrap/install.sh", INSTALL_SH.encode(), 0o755, epoch)
        for item in wheels:
            _add(
                archive,
                f"bootstrap/wheels/{Path(item.entry.path).name}",
                item.source.read_bytes(),
                0o644,
                epoch,
            )
    tmp.replace(kit)
    signature = kit.with_name(kit.name + SIGNATURE_SUFFIX)
    _sign(kit, signature, keys_dir / KEYRING_NAME, secret_key, epoch)
    return [kit, signature]


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int, epoch: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def _sign(kit: Path, signature: Path, keyring: Path, secret_key: bytes, epoch: int) -> None:
    require("gpg", "gnupg")
    with tempfile.TemporaryDirectory(prefix="deployer-gpg-") as home:
        import_repo_key(secret_key, Path(home))
        base = ["gpg", "--homedir", home, "--batch", "--no-tty", "--yes"]
        base += [
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--faked-system-time",
            f"{max(epoch, REPO_KEY_EPOCH)}!",
        ]
        run([*base, "--detach-sign", "-o", str(signature), str(kit)], what="signing the bastion kit")
        exported = run([*base, "--export"], what="gpg keyring export").stdout
        if not keyring.is_file() or keyring.read_bytes() != exported:
            keyring.write_bytes(exported)
