"""The container format: one deterministic zstd-compressed tar, optionally cut into numbered parts."""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

import zstandard

from deployer.bundle.errors import BundleInputError, BundleVerificationError

CHUNK = 1024 * 1024
# Compressed bytes fed to the decoder at a time: small, so that damage found by the decoder
# is reported against the file being read, not one a megabyte earlier.
DECODE_CHUNK = 128 * 1024
# Most of a bundle is already compressed (.deb, .whl, .tar.gz); measured on the dev bundle,
# level 19 saves under 2% over level 9 and takes ten times as long.
ZSTD_LEVEL = 9
ZSTD_MAX_WINDOW_LOG = 27  # 128 MiB: the decoder's default limit, so any zstd tool can read it
ZSTD_JOB_SIZE = 32 * 1024 * 1024  # fixed, so the output does not depend on the machine
PART_RE = re.compile(r"^(?P<base>.+)\.part(?P<index>\d{3})-of-(?P<count>\d{3})$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """'700M', '4GiB', '4.7GB' -> bytes; K/M/G and KiB/MiB/GiB count in 1024s, KB/MB/GB in 1000s."""
    match = _SIZE_RE.match(text)
    if not match:
        raise BundleInputError(
            f"'{text}' is not a size", hint="write a number with an optional unit, e.g. 700M, 4GiB or 4.7GB"
        )
    number, unit, suffix = match.groups()
    base = 1000 if suffix.lower() == "b" and unit else 1024
    size = int(float(number) * base ** _UNITS[unit.lower()])
    if size < 1024 * 1024:
        raise BundleInputError(
            f"part size {text} is below 1 MiB", hint="parts are for removable media, e.g. --split 4GB"
        )
    return size


def compressor_threads() -> int:
    # zstd's multi-threaded output does not depend on the number of workers (>= 1),
    # so any machine produces the same bytes.
    return max(1, os.cpu_count() or 1)


def part_name(base: str, index: int, count: int) -> str:
    return f"{base}.part{index:03d}-of-{count:03d}"


class PartWriter(io.RawIOBase):
    """A sink that writes one file, or numbered parts of at most `split` bytes each."""

    def __init__(self, target: Path, split: int | None) -> None:
        super().__init__()
        self.target = target
        self.split = split
        self._tmp_paths: list[Path] = []
        self._handle: BinaryIO | None = None
        self._in_part = 0
        self.size = 0

    def writable(self) -> bool:
        return True

    def _next(self) -> None:
        if self._handle is not None:
            self._handle.close()
        path = self.target.with_name(f".{self.target.name}.building.{len(self._tmp_paths) + 1}")
        self._tmp_paths.append(path)
        self._handle = path.open("wb")
        self._in_part = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        written = 0
        while written < len(view):
            if self._handle is None or (self.split and self._in_part >= self.split):
                self._next()
            assert self._handle is not None  # noqa: S101 - set by _next
            room = len(view) - written if not self.split else self.split - self._in_part
            chunk = view[written : written + room]
            self._handle.write(chunk)
            self._in_part += len(chunk)
            written += len(chunk)
        self.size += written
        return written

    def finish(self) -> list[Path]:
        """Move the finished file(s) into place; older outputs of the same name go away."""
        if self._handle is None:
            self._next()
        assert self._handle is not None  # noqa: S101
        self._handle.close()
        for old in existing_outputs(self.target):
            old.unlink()
        if not self.split:
            self._tmp_paths[0].replace(self.target)
            return [self.target]
        count = len(self._tmp_paths)
        final = [self.target.with_name(part_name(self.target.name, i + 1, count)) for i in range(count)]
        for tmp, dest in zip(self._tmp_paths, final, strict=True):
            tmp.replace(dest)
        return final

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        for tmp in self._tmp_paths:
            tmp.unlink(missing_ok=True)


def existing_outputs(target: Path) -> list[Path]:
    found = [target] if target.exists() else []
    if target.parent.is_dir():
        found += sorted(
            p
            for p in target.parent.iterdir()
            if (m := PART_RE.match(p.name)) and m.group("base") == target.name
        )
    return found


def locate_parts(path: Path) -> list[Path]:
    """The file(s) making up a bundle: the file itself, or all its parts, checked complete."""
    match = PART_RE.match(path.name)
    base = path.with_name(match.group("base")) if match else path
    if not match and path.is_file():
        return [path]
    parts = [p for p in existing_outputs(base) if p != base]
    if not parts:
        raise BundleInputError(
            f"bundle not found: {path}",
            hint="pass the .tar.zst file or any of its .partNNN-of-MMM files",
        )
    counts = {int(PART_RE.match(p.name).group("count")) for p in parts}  # type: ignore[union-attr]
    if len(counts) != 1:
        raise BundleVerificationError(
            f"parts of {base.name} from different builds lie side by side: "
            + ", ".join(p.name for p in parts),
            hint="keep only the parts of one build in the folder",
        )
    count = counts.pop()
    present = {int(PART_RE.match(p.name).group("index")) for p in parts}  # type: ignore[union-attr]
    missing = [part_name(base.name, i, count) for i in range(1, count + 1) if i not in present]
    if missing:
        raise BundleVerificationError(
            f"bundle {base.name} is incomplete: {len(missing)} of {count} parts missing: "
            + ", ".join(missing),
            hint=f"copy every part next to the others ({part_name(base.name, 1, count)} ... "
            f"{part_name(base.name, count, count)})",
        )
    return [base.with_name(part_name(base.name, i, count)) for i in range(1, count + 1)]


class JoinedReader(io.RawIOBase):
    """Reads several part files as one stream, never holding more than one chunk."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._paths = list(paths)
        self._handle: io.BufferedReader | None = None
        self.total = sum(p.stat().st_size for p in paths)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._handle is None:
                if not self._paths:
                    return 0
                self._handle = self._paths.pop(0).open("rb")
            count = self._handle.readinto(buffer)
            if count:
                return count
            self._handle.close()
            self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        super().close()


class CorruptStreamError(BundleVerificationError):
    """The zstd decoder found damaged data: whatever member it was in is not the signed one."""


@dataclass
class Member:
    path: str
    size: int
    mode: int


def write_bundle(
    target: Path,
    members: Iterator[tuple[Member, Callable[[], BinaryIO]]],
    *,
    mtime: int,
    split: int | None,
    on_bytes: Callable[[int], None],
    total: int,
    level: int = ZSTD_LEVEL,
) -> list[Path]:
    """Write members in the given order as a deterministic tar.zst; returns the file(s) written."""
    params = zstandard.ZstdCompressionParameters.from_level(
        level,
        # A window no larger than the content keeps small bundles fast and light on memory.
        window_log=min(ZSTD_MAX_WINDOW_LOG, max(20, total.bit_length())),
        job_size=ZSTD_JOB_SIZE,
        enable_ldm=True,
        threads=compressor_threads(),
        write_checksum=True,
    )
    sink = PartWriter(target, split)
    try:
        cctx = zstandard.ZstdCompressor(compression_params=params)
        with cctx.stream_writer(cast("IO[bytes]", sink), closefd=False) as zwriter:
            tar = tarfile.open(fileobj=zwriter, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
            for member, opener in members:
                info = tarfile.TarInfo(member.path)
                info.size = member.size
                info.mtime = mtime
                info.mode = member.mode
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with opener() as source:
                    tar.addfile(info, _Counting(source, on_bytes))
            tar.close()
        return sink.finish()
    except BaseException:
        sink.abort()
        raise


class _Counting(io.RawIOBase):
    def __init__(self, inner: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        super().__init__()
        self._inner = inner
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._on_bytes(len(data))
        return data


class ZstdStream(io.RawIOBase):
    """Decompresses while reading and notices a stream that ends early or has trailing bytes."""

    def __init__(self, raw: io.RawIOBase, on_raw: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._dobj = zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj()
        self._buffer = b""
        self._offset = 0
        self._eof = False
        self._on_raw = on_raw
        self.trailing = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer):
            if self._eof:
                return 0
            self._fill()
        view = memoryview(buffer)
        count = min(len(view), len(self._buffer) - self._offset)
        view[:count] = self._buffer[self._offset : self._offset + count]
        self._offset += count
        return count

    def _fill(self) -> None:
        if self._dobj.eof:
            self._eof = True
            self.trailing = bool(self._dobj.unused_data) or bool(self._raw.read(1))
            return
        chunk = self._raw.read(DECODE_CHUNK) or b""
        if self._on_raw is not None:
            self._on_raw(len(chunk))
        if not chunk:
            self._eof = True
            return
        try:
            self._buffer = self._dobj.decompress(chunk)
        except zstandard.ZstdError as exc:
            raise CorruptStreamError(f"the bundle's compressed data is corrupt: {exc}") from exc
        self._offset = 0

    def drain(self) -> None:
        """Read to the end, so that `complete` and `trailing` describe the whole input."""
        while not self._eof:
            self._fill()
        self._offset = len(self._buffer)

    @property
    def complete(self) -> bool:
        """True once the zstd frame ended with its checksum verified."""
        return bool(self._dobj.eof)


def read_member_header(stream: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return stream.next()
    except tarfile.ReadError as exc:
        raise BundleVerificationError(f"the bundle is truncated or not a bundle: {exc}") from exc
