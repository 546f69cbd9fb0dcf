"""A signed apt repository over a set of .deb files, byte-identical for the same inputs."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import tarfile
import tempfile
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import zstandard

from deployer.bundle.errors import BundleInputError
from deployer.bundle.keys import REPO_KEY_EPOCH, import_repo_key
from deployer.bundle.tools import require, run

COMPONENT = "main"
ARCH = "amd64"
KEYRING_NAME = "deployer-bundle-archive-keyring.gpg"
AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60


@dataclass(frozen=True)
class Deb:
    """A .deb as it will sit in the repository pool."""

    source: Path
    filename: str  # pool/main/<file>


def control_fields(deb: Path) -> str:
    """The control paragraph of a .deb, read in Python so the build needs no dpkg-dev."""
    with deb.open("rb") as handle:
        if handle.read(len(AR_MAGIC)) != AR_MAGIC:
            raise BundleInputError(f"{deb} is not a Debian package")
        while header := handle.read(AR_HEADER):
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            data = handle.read(size)
            if size % 2:
                handle.read(1)
            if name.startswith("control.tar"):
                return _control_from_tar(name, data)
    raise BundleInputError(f"{deb} holds no control archive")


def _control_from_tar(name: str, data: bytes) -> str:
    if name.endswith(".xz"):
        data = lzma.decompress(data)
    elif name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.name in {"./control", "control"}:
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read().decode().strip("\n")
    raise BundleInputError("control archive without a control file")


def packages_index(debs: list[Deb]) -> bytes:
    stanzas: list[tuple[str, str]] = []
    for deb in debs:
        fields = control_fields(deb.source)
        data = deb.source.read_bytes()
        extra = (
            f"Filename: {deb.filename}\n"
            f"Size: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\n"  # noqa: S324 - apt's index format, not security
            f"SHA256: {hashlib.sha256(data).hexdigest()}"
        )
        stanzas.append((deb.filename, f"{fields}\n{extra}\n"))
    return "\n".join(text for _, text in sorted(stanzas)).encode()


def release_file(suite: str, indexes: dict[str, bytes], epoch: int) -> bytes:
    lines = [
        "Origin: mattermost-deployer",
        "Label: mattermost-deployer offline bundle",
        f"Suite: {suite}",
        f"Codename: {suite}",
        f"Date: {formatdate(epoch, usegmt=True)}",
        f"Architectures: {ARCH} all",
        f"Components: {COMPONENT}",
        "Description: packages of one offline bundle; nothing else",
        "SHA256:",
    ]
    lines += [
        f" {hashlib.sha256(data).hexdigest()} {len(data):>16} {name}"
        for name, data in sorted(indexes.items())
    ]
    return ("\n".join(lines) + "\n").encode()


def build_repository(debs: list[Deb], suite: str, out: Path, *, secret_key: bytes, epoch: int) -> list[Path]:
    """Write dists/ (Packages, Release, InRelease, Release.gpg) and the keyring; returns them."""
    packages = packages_index(debs)
    rel = f"{COMPONENT}/binary-{ARCH}"
    indexes = {f"{rel}/Packages": packages, f"{rel}/Packages.gz": gzip.compress(packages, mtime=0)}
    dists = out / "dists" / suite
    for name, data in indexes.items():
        (dists / name).parent.mkdir(parents=True, exist_ok=True)
        (dists / name).write_bytes(data)
    release = release_file(suite, indexes, epoch)
    (dists / "Release").write_bytes(release)
    written = [dists / name for name in indexes] + [dists / "Release"]
    written += sign_release(dists / "Release", out / KEYRING_NAME, secret_key, epoch)
    return written


def sign_release(release: Path, keyring: Path, secret_key: bytes, epoch: int) -> list[Path]:
    """InRelease and Release.gpg with a frozen clock, so the same Release gives the same bytes."""
    require("gpg", "gnupg")
    when = max(epoch, REPO_KEY_EPOCH)
    with tempfile.TemporaryDirectory(prefix="deployer-gpg-") as home:
        import_repo_key(secret_key, Path(home))
        base = [
            "gpg",
            "--homedir",
            home,
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--faked-system-time",
            f"{when}!",
            "--digest-algo",
            "SHA512",
            "--yes",
        ]
        inrelease = release.with_name("InRelease")
        detached = release.with_name("Release.gpg")
        run([*base, "--clearsign", "-o", str(inrelease), str(release)], what="signing InRelease")
        run(
            [*base, "--armor", "--detach-sign", "-o", str(detached), str(release)], what="signing Release.gpg"
        )
        keyring.parent.mkdir(parents=True, exist_ok=True)
        keyring.write_bytes(run([*base, "--export"], what="gpg keyring export").stdout)
    return [inrelease, detached, keyring]
