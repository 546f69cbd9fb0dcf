"""Unpacks a verified bundle into a store: all of it or nothing, a delta completed from its base."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from deployer.bundle.errors import BundleInputError, BundleVerificationError
from deployer.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Kind, Manifest, manifest_digest
from deployer.bundle.progress import Reporter
from deployer.bundle.verify import raise_for, scan_bundle, trusted_key, verify_tree

RELEASES = "releases"


@dataclass(frozen=True)
class UnpackResult:
    manifest: Manifest
    release_dir: Path
    link: Path
    extracted: int
    reused: int
    already: bool


class _Extractor:
    """Receives member bytes from the verifying pass and writes them under a private folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._name: str | None = None
        self._handle: BinaryIO | None = None
        self.count = 0

    def __call__(self, name: str, chunk: bytes | None) -> None:
        if name != self._name:
            self.close()
            target = self.root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            self._handle = target.open("wb")
            self._name = name
            self.count += 1
        if chunk and self._handle is not None:
            self._handle.write(chunk)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = None
        self._name = None


def release_name(manifest: Manifest, manifest_bytes: bytes) -> str:
    return f"{manifest.environment}-{manifest_digest(manifest_bytes)[:12]}"


def find_release(store: Path, digest: str) -> Path | None:
    folder = store / RELEASES
    if not folder.is_dir():
        return None
    for candidate in sorted(folder.iterdir()):
        manifest = candidate / MANIFEST_NAME
        if (
            not candidate.name.startswith(".")
            and manifest.is_file()
            and manifest_digest(manifest.read_bytes()) == digest
        ):
            return candidate
    return None


def unpack(
    bundle: Path, store: Path, pubkey: Path | Ed25519PublicKey, *, reporter: Reporter | None = None
) -> UnpackResult:
    """Verify while extracting into a private folder; only a complete, verified set is renamed in.

    The signature is checked before any byte is written; the files land in a hidden folder
    that nothing reads, and a single rename publishes them once every hash matched.
    """
    reporter = reporter or Reporter(quiet=True)
    public = trusted_key(pubkey)
    releases = store / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=releases))
    try:
        extractor = _Extractor(tmp)
        try:
            report = scan_bundle(bundle, public, reporter=reporter, sink=extractor)
        finally:
            extractor.close()
        raise_for(report, str(bundle))
        manifest = report.manifest
        final = releases / release_name(manifest, report.manifest_bytes)
        link = store / manifest.environment
        if final.is_dir():
            verify_tree(final, public)
            shutil.rmtree(tmp)
            _point(link, final)
            return UnpackResult(manifest, final, link, 0, 0, already=True)
        tmp.chmod(0o755)  # mkdtemp makes it private; the bastion serves it to the hosts
        reused = _complete_from_base(manifest, store, tmp, public)
        for entry in manifest.files:
            if entry.kind is Kind.BINARY:
                (tmp / entry.path).chmod(0o755)
        (tmp / MANIFEST_NAME).write_bytes(report.manifest_bytes)
        (tmp / SIGNATURE_NAME).write_bytes(report.signature)
        with reporter.step(f"verify the unpacked set ({len(manifest.files)} files)"):
            verify_tree(tmp, public)
        tmp.rename(final)
        _point(link, final)
        return UnpackResult(manifest, final, link, extractor.count, reused, already=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _complete_from_base(manifest: Manifest, store: Path, tmp: Path, public: Ed25519PublicKey) -> int:
    if manifest.base is None:
        return 0
    base_dir = find_release(store, manifest.base.manifest_sha256)
    if base_dir is None:
        raise BundleInputError(
            f"this is a delta on a {manifest.base.environment} bundle "
            f"(manifest sha256 {manifest.base.manifest_sha256[:16]}...) that {store} does not hold",
            hint="unpack the base bundle into this store first, then the delta",
        )
    old = verify_tree(base_dir, public)
    old_by_sha = {f.sha256: f.path for f in old.files}
    reused = 0
    for entry in manifest.files:
        if entry.included:
            continue
        source_path = old_by_sha.get(entry.sha256)
        if source_path is None:
            raise BundleVerificationError(
                f"the delta expects {entry.path} from its base, and the base does not hold it"
            )
        target = tmp / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(base_dir / source_path, target)
        except OSError:
            shutil.copy2(base_dir / source_path, target)
        reused += 1
    return reused


def _point(link: Path, release: Path) -> None:
    """Switch `STORE/<env>` to the new release in one atomic rename."""
    tmp_link = link.with_name(f".{link.name}.link")
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(RELEASES) / release.name)
    tmp_link.replace(link)
