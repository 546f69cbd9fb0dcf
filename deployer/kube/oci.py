"""OCI image archives: exported from the Docker daemon or an OCI layout folder, read back to push."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from deployer.errors import DeployerError
from deployer.kube.images import ImageRef

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"


class ImageExportError(DeployerError):
    """An image could not be found or exported."""


class ImageDigestMismatchError(DeployerError):
    """The exported image is not the one the topology pins."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:  # noqa: ANN401 - any JSON document
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ImageArchive:
    """One image as an OCI archive: which image, its manifest digest, and the file."""

    reference: ImageRef
    digest: str
    path: Path


class Layout:
    """Read access to an OCI image layout, whether a folder or a tar archive of one."""

    def __init__(self, root: Path | None = None, tar: tarfile.TarFile | None = None) -> None:
        self._root = root
        self._tar = tar

    def read(self, name: str) -> bytes:
        if self._root is not None:
            return (self._root / name).read_bytes()
        assert self._tar is not None  # noqa: S101 - one of the two is always set
        member = self._tar.extractfile(name)
        if member is None:
            raise KeyError(name)
        return member.read()

    def has(self, name: str) -> bool:
        if self._root is not None:
            return (self._root / name).is_file()
        assert self._tar is not None  # noqa: S101
        try:
            self._tar.getmember(name)
        except KeyError:
            return False
        return True

    def size(self, digest: str) -> int:
        name = blob_path(digest)
        if self._root is not None:
            return (self._root / name).stat().st_size
        assert self._tar is not None  # noqa: S101
        return self._tar.getmember(name).size

    def open_blob(self, digest: str) -> IO[bytes]:
        name = blob_path(digest)
        if self._root is not None:
            return (self._root / name).open("rb")
        assert self._tar is not None  # noqa: S101
        member = self._tar.extractfile(name)
        if member is None:
            raise KeyError(name)
        return member

    def index(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.read("index.json"))
        return data

    def json_blob(self, digest: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.read(blob_path(digest)))
        return data


def blob_path(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


@contextmanager
def open_archive(path: Path) -> Iterator[Layout]:
    with tarfile.open(path) as tar:
        yield Layout(tar=tar)


def _descriptor_for(index: dict[str, Any], ref: ImageRef | None) -> dict[str, Any]:
    """The index entry for `ref` (by its tag or full name), or the only entry there is."""
    entries: list[dict[str, Any]] = list(index.get("manifests") or [])
    if ref is not None:
        names = {str(ref), str(ImageRef(ref.registry, ref.repository, ref.tag, None)), ref.tag or ""}
        for entry in entries:
            notes = entry.get("annotations") or {}
            if notes.get(IMAGE_NAME) in names or notes.get(REF_NAME) in names:
                return entry
            if ref.digest and entry.get("digest") == ref.digest:
                return entry
    if len(entries) == 1:
        return entries[0]
    raise ImageExportError(
        f"the OCI layout holds {len(entries)} images and none is named {ref}",
        hint="annotate each image in index.json with its name (org.opencontainers.image.ref.name)",
    )


def _blobs_of(layout: Layout, descriptor: dict[str, Any]) -> list[str]:
    """Every blob digest one manifest (or index) needs, the manifest itself included."""
    digest = str(descriptor["digest"])
    found = [digest]
    manifest = layout.json_blob(digest)
    media = descriptor.get("mediaType") or manifest.get("mediaType")
    if media in INDEX_TYPES:
        for child in manifest.get("manifests") or []:
            if layout.has(blob_path(child["digest"])):
                found.extend(_blobs_of(layout, child))
        return found
    found.append(str(manifest["config"]["digest"]))
    found.extend(str(layer["digest"]) for layer in manifest.get("layers") or [])
    return found


def _add(
    tar: tarfile.TarFile, name: str, data: bytes | None = None, source: IO[bytes] | None = None, size: int = 0
) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        info.size = size
        tar.addfile(info, source)


def write_archive(layout: Layout, descriptor: dict[str, Any], ref: ImageRef, dest: Path) -> ImageArchive:
    """Write a single-image OCI archive, byte-identical for the same image."""
    entry = dict(descriptor)
    entry["annotations"] = {IMAGE_NAME: str(ref), REF_NAME: ref.tag or "latest"}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        _add(tar, "index.json", canonical_json(index))
        for digest in sorted(set(_blobs_of(layout, descriptor))):
            with layout.open_blob(digest) as blob:
                _add(tar, blob_path(digest), source=blob, size=layout.size(digest))
    tmp.replace(dest)
    return ImageArchive(ref, str(descriptor["digest"]), dest)


def _check_pinned(ref: ImageRef, digest: str, source: str) -> None:
    if ref.digest and ref.digest != digest:
        raise ImageDigestMismatchError(
            f"{ref} is pinned to {ref.digest}, but {source} holds {digest}",
            hint=(
                "pin the digest of the image you mirrored, or export it from an OCI layout that "
                "keeps its original manifest (Docker 20.10's `docker save` does not)"
            ),
        )


def export_from_layout(layout_dir: Path, ref: ImageRef, dest: Path) -> ImageArchive:
    """Take one image out of an OCI layout folder (skopeo's `oci:` or `docker save` >= 25)."""
    if not (layout_dir / "index.json").is_file():
        raise ImageExportError(f"{layout_dir} is not an OCI image layout (no index.json)")
    layout = Layout(root=layout_dir)
    descriptor = _descriptor_for(layout.index(), ref)
    _check_pinned(ref, str(descriptor["digest"]), str(layout_dir))
    return write_archive(layout, descriptor, ref, dest)


def _legacy_to_layout(saved: Path, work: Path) -> dict[str, Any]:
    """Turn a `docker save` archive of the legacy format into an OCI layout; returns its descriptor.

    Layers stay uncompressed tar, exactly as saved, so the manifest (and its digest) is the
    same every time the same image is exported.
    """
    with tarfile.open(saved) as tar:
        entries = json.loads(_member(tar, "manifest.json"))
        if len(entries) != 1:
            raise ImageExportError(f"{saved} holds {len(entries)} images; export one at a time")
        entry = entries[0]
        blobs = work / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        config = _member(tar, entry["Config"])
        config_digest = sha256_digest(config)
        (work / blob_path(config_digest)).write_bytes(config)
        layers = []
        for name in entry["Layers"]:
            member = tar.extractfile(name)
            if member is None:
                raise ImageExportError(f"{saved}: layer {name} is missing")
            hasher = hashlib.sha256()
            part = blobs / "layer.part"
            with part.open("wb") as out:
                while chunk := member.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            digest = "sha256:" + hasher.hexdigest()
            part.replace(work / blob_path(digest))
            layers.append({"mediaType": OCI_LAYER_TAR, "digest": digest, "size": part_size(work, digest)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": layers,
    }
    body = canonical_json(manifest)
    digest = sha256_digest(body)
    (work / blob_path(digest)).write_bytes(body)
    descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
    (work / "index.json").write_bytes(canonical_json({"schemaVersion": 2, "manifests": [descriptor]}))
    return descriptor


def part_size(work: Path, digest: str) -> int:
    return (work / blob_path(digest)).stat().st_size


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise ImageExportError(f"{name} is missing from the saved image")
    return member.read()


def export_from_docker(ref: ImageRef, dest: Path, docker: str = "docker") -> ImageArchive:
    """`docker save` the image tagged `ref` (without its digest) and write it as an OCI archive."""
    local = str(ImageRef(ref.registry, ref.repository, ref.tag, None))
    if shutil.which(docker) is None:
        raise ImageExportError("docker is not installed", hint="export from an OCI layout folder instead")
    with tempfile.TemporaryDirectory(prefix="deployer-oci-") as tmp:
        saved = Path(tmp) / "saved.tar"
        result = subprocess.run(
            [docker, "save", "-o", str(saved), local], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ImageExportError(
                f"docker save {local} failed: {result.stderr.strip()}",
                hint=f"load or build the image on this machine first (docker load / docker tag ... {local})",
            )
        with tarfile.open(saved) as tar:
            names = set(tar.getnames())
        if "index.json" in names and "oci-layout" in names:
            work = Path(tmp) / "layout"
            with tarfile.open(saved) as tar:
                tar.extractall(work, filter="data")
            return export_from_layout(work, ref, dest)
        work = Path(tmp) / "layout"
        work.mkdir()
        descriptor = _legacy_to_layout(saved, work)
        _check_pinned(ref, str(descriptor["digest"]), f"the local Docker daemon's {local}")
        return write_archive(Layout(root=work), descriptor, ref, dest)


def archive_digest(path: Path) -> str:
    """The manifest digest of the single image in an OCI archive."""
    with open_archive(path) as layout:
        return str(_descriptor_for(layout.index(), None)["digest"])
