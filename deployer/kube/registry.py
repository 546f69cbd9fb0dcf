"""Pushes OCI image archives into the site's registry (distribution API v2) and checks them by digest."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from deployer.errors import CheckFailedError, DeployerError
from deployer.kube.images import ImageRef
from deployer.kube.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageArchive,
    Layout,
    blob_path,
    open_archive,
    sha256_digest,
)

IMAGES_FILE = "images.json"
ACCEPT = f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"


class RegistryError(DeployerError):
    """The registry refused or could not be reached."""


class ImageMissingError(CheckFailedError):
    """After the push, an image is not in the registry under its digest."""


@dataclass(frozen=True)
class PushedImage:
    source: str
    target: str
    digest: str
    blobs_sent: int
    blobs_present: int
    bytes_sent: int


@dataclass
class RegistryClient:
    """A small distribution-v2 client: HTTPS by default, basic auth, no third-party code."""

    address: str
    plain_http: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    timeout: float = 60.0
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.plain_http:
            self._context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    @property
    def base(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.address}"

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, dict[str, str], bytes]:
        if not url.startswith("http"):
            url = self.base + url
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - the site registry, http(s) only
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as resp:  # noqa: S310
                status, got, data = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, got, data = exc.code, dict(exc.headers.items()), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(
                f"cannot reach the registry at {self.base}: {exc}",
                hint="check kubernetes.registry in the topology, and --plain-http/--ca-file",
            ) from exc
        if status not in ok:
            detail = data.decode(errors="replace").strip()[:300]
            raise RegistryError(f"{method} {url} answered {status}: {detail}")
        return status, {k.lower(): v for k, v in got.items()}, data

    def check(self) -> None:
        self._request("GET", "/v2/")

    def has_blob(self, repo: str, digest: str) -> bool:
        status, _, _ = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return status == 200  # noqa: PLR2004

    def put_blob(self, repo: str, digest: str, data: IO[bytes], size: int) -> None:
        _, headers, _ = self._request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
        location = urllib.parse.urljoin(self.base + "/", headers["location"])
        joiner = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{joiner}digest={urllib.parse.quote(digest)}",
            body=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            ok=(201,),
        )

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        _, headers, _ = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            body=body,
            headers={"Content-Type": media_type},
            ok=(201,),
        )
        return headers.get("docker-content-digest", sha256_digest(body))

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        """The digest of the manifest the registry serves, computed from its bytes; None if absent."""
        status, headers, body = self._request(
            "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT}, ok=(200, 404)
        )
        if status != 200:  # noqa: PLR2004
            return None
        computed = sha256_digest(body)
        served = headers.get("docker-content-digest", computed)
        return computed if served == computed else f"mismatch:{served}!={computed}"


def _push_manifest(
    client: RegistryClient, layout: Layout, repo: str, descriptor: dict[str, Any], tally: dict[str, int]
) -> None:
    """Blobs first, then children, then the manifest itself by digest (the registry checks references)."""
    digest = str(descriptor["digest"])
    body = layout.read(blob_path(digest))
    manifest = json.loads(body)
    media = str(descriptor.get("mediaType") or manifest.get("mediaType") or OCI_MANIFEST)
    if media in INDEX_TYPES:
        for child in manifest.get("manifests") or []:
            if not layout.has(blob_path(child["digest"])):
                raise RegistryError(
                    f"{repo}: the image index names {child['digest']}, which the archive lacks",
                    hint="export the image for one platform, or with every platform it lists",
                )
            _push_manifest(client, layout, repo, child, tally)
    else:
        for blob in [manifest["config"], *(manifest.get("layers") or [])]:
            blob_digest = str(blob["digest"])
            if client.has_blob(repo, blob_digest):
                tally["present"] += 1
                continue
            size = layout.size(blob_digest)
            with layout.open_blob(blob_digest) as data:
                client.put_blob(repo, blob_digest, data, size)
            tally["sent"] += 1
            tally["bytes"] += size
    got = client.put_manifest(repo, digest, body, media)
    if got != digest:
        raise RegistryError(f"{repo}: the registry stored manifest {digest} as {got}")


def push_archive(client: RegistryClient, archive: ImageArchive, registry: str) -> PushedImage:
    """Push one archive to `registry` under the image's own repository and tag."""
    target = archive.reference.relocated(registry)
    tally = {"sent": 0, "present": 0, "bytes": 0}
    with open_archive(archive.path) as layout:
        entries = layout.index().get("manifests") or []
        if len(entries) != 1:
            raise RegistryError(f"{archive.path} holds {len(entries)} images; expected one")
        descriptor = entries[0]
        if descriptor["digest"] != archive.digest:
            raise ImageMissingError(
                f"{archive.path} holds {descriptor['digest']}, but the bundle lists {archive.digest}",
                hint="the bundle was changed after it was built; rebuild it",
            )
        _push_manifest(client, layout, target.repository, descriptor, tally)
        if target.tag:
            body = layout.read(blob_path(archive.digest))
            media = str(descriptor.get("mediaType") or OCI_MANIFEST)
            client.put_manifest(target.repository, target.tag, body, media)
    return PushedImage(
        str(archive.reference), str(target), archive.digest, tally["sent"], tally["present"], tally["bytes"]
    )


def verify_pushed(client: RegistryClient, pushed: list[PushedImage]) -> None:
    """Every image answers under its digest (and its tag) with exactly that digest."""
    problems = []
    for image in pushed:
        ref = ImageRef.parse(image.target)
        for reference in filter(None, [image.digest, ref.tag]):
            got = client.manifest_digest(ref.repository, reference)
            if got != image.digest:
                problems.append(f"{ref.repository}:{reference} -> {got or 'missing'} (want {image.digest})")
    if problems:
        raise ImageMissingError(
            "images are not in the registry as pushed: " + "; ".join(problems),
            hint="push again; if it persists the registry rewrites manifests (check its configuration)",
        )


def load_images_file(folder: Path) -> list[ImageArchive]:
    """The seam with the bundle: images.json lists {reference, digest, archive} relative to `folder`."""
    path = folder / IMAGES_FILE
    if not path.is_file():
        raise DeployerError(
            f"no {IMAGES_FILE} in {folder}",
            hint="pass the bundle (or its extracted kube/images folder) built by `deployer bundle build`",
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ImageArchive(ImageRef.parse(item["reference"]), item["digest"], folder / item["archive"])
        for item in data["images"]
    ]


def write_images_file(folder: Path, archives: list[ImageArchive]) -> Path:
    items = [
        {"reference": str(a.reference), "digest": a.digest, "archive": a.path.relative_to(folder).as_posix()}
        for a in sorted(archives, key=lambda a: str(a.reference))
    ]
    path = folder / IMAGES_FILE
    path.write_text(json.dumps({"images": items}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def push_images(client: RegistryClient, folder: Path, registry: str) -> tuple[list[PushedImage], float]:
    """Push every image listed in `folder`/images.json, verify each by digest; returns the time taken."""
    started = time.monotonic()
    client.check()
    pushed = [push_archive(client, archive, registry) for archive in load_images_file(folder)]
    verify_pushed(client, pushed)
    return pushed, time.monotonic() - started
