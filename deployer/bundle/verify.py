"""Verification before use: signature first, against the trusted key, then every byte of every file."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from deployer.bundle import keys
from deployer.bundle.archive import CHUNK, CorruptStreamError, JoinedReader, ZstdStream, locate_parts
from deployer.bundle.errors import (
    BundleInputError,
    BundleSignatureError,
    BundleVerificationError,
    FileProblem,
    ProblemKind,
)
from deployer.bundle.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    is_safe_path,
    peek_manifest_key_id,
)
from deployer.bundle.progress import Reporter
from deployer.topology import Environment

# Stands for the bundle as a whole where a problem is not inside one file.
STREAM = "(bundle)"
# A callback that receives each verified member's bytes, chunk by chunk (used by unpack).
Sink = Callable[[str, bytes | None], None]


@dataclass
class VerifyReport:
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    problems: list[FileProblem] = field(default_factory=list)
    checked_files: int = 0
    checked_bytes: int = 0
    corrupt: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def trusted_key(pubkey: Path | str | Ed25519PublicKey) -> Ed25519PublicKey:
    return pubkey if isinstance(pubkey, Ed25519PublicKey) else keys.load_public(Path(pubkey))


def verify_bundle(
    path: Path | str, pubkey: Path | str | Ed25519PublicKey, *, reporter: Reporter | None = None
) -> Manifest:
    """Check a bundle (file, or any of its parts) and return its manifest; raise on ANY problem.

    The one function every part of the deployer calls before it touches a bundle's content.
    """
    report = scan_bundle(Path(path), trusted_key(pubkey), reporter=reporter)
    raise_for(report, str(path))
    return report.manifest


def raise_for(report: VerifyReport, what: str) -> None:
    if report.problems:
        count = sum(p.path != STREAM for p in report.problems)
        message = (
            f"{what}: {count} file{'s' if count != 1 else ''} do{'es' if count == 1 else ''} "
            "not match the signed manifest"
            if count
            else f"{what}: the bundle's data stream is damaged"
        )
        raise BundleVerificationError(message, problems=report.problems)


def scan_bundle(
    path: Path,
    public: Ed25519PublicKey,
    *,
    reporter: Reporter | None = None,
    sink: Sink | None = None,
) -> VerifyReport:
    """One streaming pass over the bundle; memory stays at a few chunks whatever its size."""
    reporter = reporter or Reporter(quiet=True)
    parts = locate_parts(path)
    raw = JoinedReader(parts)
    with reporter.bar(f"verify {path.name}", raw.total) as advance:
        zstream = ZstdStream(raw, on_raw=advance)
        try:
            return _scan(zstream, public, sink)
        finally:
            raw.close()


def _scan(zstream: ZstdStream, public: Ed25519PublicKey, sink: Sink | None) -> VerifyReport:
    try:
        tar = tarfile.open(fileobj=zstream, mode="r|", bufsize=CHUNK)  # noqa: SIM115
    except tarfile.ReadError as exc:
        raise BundleVerificationError(f"not a bundle, or truncated before its manifest: {exc}") from exc
    manifest_bytes = _small_member(tar, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    signature = _small_member(tar, SIGNATURE_NAME, 4096)
    # The signature is checked before a single field of the manifest is believed.
    keys.check_signature(public, manifest_bytes, signature, peek_manifest_key_id(manifest_bytes))
    manifest = Manifest.from_bytes(manifest_bytes)
    report = VerifyReport(manifest, manifest_bytes, signature)
    expected = {f.path: f for f in manifest.files if f.included}
    seen: set[str] = set()
    with ThreadPoolExecutor(max_workers=1) as pool:
        while True:
            try:
                info = tar.next()
            except tarfile.ReadError as exc:
                report.problems.append(FileProblem(ProblemKind.TRUNCATED, STREAM, str(exc)))
                break
            except CorruptStreamError as exc:
                report.problems.append(FileProblem(ProblemKind.MODIFIED, STREAM, exc.message))
                report.corrupt = True
                break
            if info is None or not _check_member(
                tar, info, expected=expected, seen=seen, report=report, pool=pool, sink=sink
            ):
                break
    _finish(report, zstream, set(expected) - seen)
    return report


def _check_member(
    tar: tarfile.TarFile,
    info: tarfile.TarInfo,
    *,
    expected: dict[str, FileEntry],
    seen: set[str],
    report: VerifyReport,
    pool: ThreadPoolExecutor,
    sink: Sink | None,
) -> bool:
    """Check one member against the manifest; False when the stream cannot be read further."""
    name = info.name
    entry = expected.get(name)
    if not is_safe_path(name) or not info.isreg():
        report.problems.append(
            FileProblem(ProblemKind.UNSAFE, name, "not a plain relative file; never extracted")
        )
        return True
    if entry is None or name in seen:
        why = "listed twice" if name in seen else "not in the signed manifest"
        report.problems.append(FileProblem(ProblemKind.EXTRA, name, why))
        return True
    seen.add(name)
    handle = tar.extractfile(info)
    if handle is None:  # pragma: no cover - isreg() above
        return True
    try:
        digest, size, cut = _hash_stream(handle, info.size, pool, name, sink)
    except CorruptStreamError as exc:
        # Decoding cannot go on past damage; the file it hit is the one to name, unless
        # this is the end-of-stream checksum failing over a file already named above.
        already = any(p.kind is ProblemKind.MODIFIED for p in report.problems)
        blamed = STREAM if already and "checksum" in exc.message else name
        report.problems.append(FileProblem(ProblemKind.MODIFIED, blamed, exc.message))
        report.corrupt = True
        return False
    report.checked_files += 1
    report.checked_bytes += size
    if cut:
        report.problems.append(
            FileProblem(ProblemKind.TRUNCATED, name, f"{size} of {entry.size} bytes present")
        )
        return False
    if size != entry.size:
        report.problems.append(
            FileProblem(ProblemKind.MODIFIED, name, f"size {size}, manifest says {entry.size}")
        )
    elif digest != entry.sha256:
        detail = f"sha256 {digest[:16]}..., manifest says {entry.sha256[:16]}..."
        report.problems.append(FileProblem(ProblemKind.MODIFIED, name, detail))
    return True


def _finish(report: VerifyReport, zstream: ZstdStream, unseen: set[str]) -> None:
    """Whole-stream checks after the last member: a clean end, nothing after it, nothing left out."""
    truncated = report.corrupt or any(p.kind is ProblemKind.TRUNCATED for p in report.problems)
    if not truncated:
        try:
            zstream.drain()
        except CorruptStreamError as exc:
            report.problems.append(FileProblem(ProblemKind.MODIFIED, STREAM, exc.message))
            return
    if not truncated and not zstream.complete:
        report.problems.append(
            FileProblem(ProblemKind.TRUNCATED, STREAM, "the compressed stream ends before its end marker")
        )
    elif zstream.trailing:
        report.problems.append(FileProblem(ProblemKind.EXTRA, STREAM, "bytes after the end of the bundle"))
    report.problems.extend(
        FileProblem(ProblemKind.MISSING, path, "in the signed manifest, not in the bundle")
        for path in sorted(unseen)
    )


def _small_member(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    try:
        info = tar.next()
    except tarfile.ReadError as exc:
        raise BundleSignatureError(f"the bundle is truncated before its {name}: {exc}") from exc
    if info is None or info.name != name or not info.isreg():
        found = "nothing" if info is None else repr(info.name)
        raise BundleSignatureError(
            f"the bundle does not start with {MANIFEST_NAME} and {SIGNATURE_NAME} (found {found} where "
            f"{name} belongs): it is unsigned or not a bundle",
        )
    if info.size > limit:
        raise BundleSignatureError(f"{name} is {info.size} bytes, larger than any real one")
    handle = tar.extractfile(info)
    data = handle.read() if handle else b""
    if len(data) != info.size:
        raise BundleSignatureError(f"the bundle is truncated inside its {name}")
    return data


def _hash_stream(
    handle: IO[bytes], size: int, pool: ThreadPoolExecutor, name: str, sink: Sink | None
) -> tuple[str, int, bool]:
    """sha256 of one member; hashing chunk N overlaps decompressing chunk N+1 (both drop the GIL)."""
    hasher = hashlib.sha256()
    pending: Future[None] | None = None
    done = 0
    cut = False
    while done < size:
        try:
            chunk = handle.read(min(CHUNK * 4, size - done))
        except (tarfile.ReadError, EOFError):
            chunk = b""
        if not chunk:
            cut = True
            break
        if pending is not None:
            pending.result()
        pending = pool.submit(hasher.update, chunk)
        if sink is not None:
            sink(name, chunk)
        done += len(chunk)
    if pending is not None:
        pending.result()
    return hasher.hexdigest(), done, cut


def verify_tree(folder: Path, pubkey: Path | str | Ed25519PublicKey) -> Manifest:
    """Check an unpacked bundle (a store release folder): signature, then the full file set."""
    public = trusted_key(pubkey)
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        signature = (folder / SIGNATURE_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise BundleSignatureError(
            f"{folder} holds no signed manifest ({exc.filename} missing)",
            hint="unpack the bundle again with 'deployer bundle unpack'",
        ) from exc
    except OSError as exc:
        raise BundleInputError(f"cannot read {folder}: {exc.strerror}") from exc
    keys.check_signature(public, manifest_bytes, signature, peek_manifest_key_id(manifest_bytes))
    manifest = Manifest.from_bytes(manifest_bytes)
    report = VerifyReport(manifest, manifest_bytes, signature)
    for entry in manifest.files:
        target = folder / entry.path
        if not target.is_file():
            report.problems.append(FileProblem(ProblemKind.MISSING, entry.path))
            continue
        digest, size = file_digest(target)
        if size != entry.size or digest != entry.sha256:
            report.problems.append(FileProblem(ProblemKind.MODIFIED, entry.path, f"size {size}"))
    listed = {f.path for f in manifest.files} | {MANIFEST_NAME, SIGNATURE_NAME}
    for extra in sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()):
        if extra not in listed:
            report.problems.append(FileProblem(ProblemKind.EXTRA, extra, "not in the signed manifest"))
    raise_for(report, str(folder))
    return manifest


def file_digest(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK * 4):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def environment_trust(env: Environment) -> tuple[Path, Path]:
    """The bundle and the key an environment's topology names; both must be set."""
    section = env.topology.bundle
    if not section.path or not section.public_key:
        raise BundleInputError(
            f"the topology of {env.name} names no bundle or no trusted key",
            hint="set bundle.path and bundle.public_key in the topology",
        )
    return env.relative(section.path), env.relative(section.public_key)


def verify_environment_bundle(
    env: Environment, *, bundle: Path | None = None, reporter: Reporter | None = None
) -> Manifest:
    """What the deploy calls first: the topology's bundle (or `bundle`), signed by the key it trusts."""
    default_path, public = environment_trust(env)
    path = bundle or default_path
    manifest = verify_bundle(path, public, reporter=reporter)
    if manifest.environment != env.name:
        raise BundleVerificationError(
            f"{path} was built for environment '{manifest.environment}', not '{env.name}'",
            hint=f"build one with 'deployer bundle build -e {env.name}'",
        )
    return manifest
