"""A CycloneDX 1.5 SBOM of every component in the bundle, as reproducible as the bundle itself."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from deployer.bundle.manifest import FileEntry, Kind

SPEC_VERSION = "1.5"
# A fixed namespace: the same bundle content always gets the same serial number.
_NAMESPACE = uuid.UUID("6f1d3b5e-8a4c-4f4e-9d0e-2b7c1a9e5d40")


def _purl(entry: FileEntry, release: str) -> str | None:
    name, version = quote(entry.name), quote(entry.version)
    match entry.kind:
        case Kind.DEB:
            return f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-{release}"
        case Kind.WHEEL:
            return f"pkg:pypi/{name}@{version}"
        case Kind.BINARY | Kind.RELEASE_TARBALL | Kind.CHART:
            return f"pkg:generic/{name}@{version}"
        case Kind.IMAGE:
            return _oci_purl(entry.name, entry.version)
        case _:
            return None


def _oci_purl(reference: str, version: str) -> str | None:
    """pkg:oci/NAME@DIGEST?repository_url=...&tag=...: an image is identified by its digest."""
    tag, _, digest = version.rpartition("@")
    if not digest.startswith("sha256:"):
        return None
    last = reference.rsplit("/", 1)[-1].lower()
    purl = f"pkg:oci/{quote(last)}@{quote(digest)}?repository_url={quote(reference, safe='/:')}"
    return purl + (f"&tag={quote(tag)}" if tag else "")


_TYPES = {
    Kind.BINARY: "application",
    Kind.RELEASE_TARBALL: "application",
    Kind.CHART: "application",
    Kind.IMAGE: "container",
}


def _component(entry: FileEntry, release: str) -> dict[str, object]:
    kind = _TYPES.get(entry.kind, "library")
    if entry.kind in {Kind.APT_INDEX, Kind.APT_KEY, Kind.OTHER}:
        kind = "file"
    component: dict[str, object] = {
        "type": kind,
        "bom-ref": entry.path,
        "name": entry.name,
        "version": entry.version,
        "hashes": [{"alg": "SHA-256", "content": entry.sha256}],
        "properties": [
            {"name": "deployer:path", "value": entry.path},
            {"name": "deployer:kind", "value": entry.kind.value},
            {"name": "deployer:origin", "value": entry.origin},
        ],
    }
    purl = _purl(entry, release)
    if purl:
        component["purl"] = purl
    return component


def make_sbom(
    entries: list[FileEntry], *, environment: str, release: str, deployer_version: str, epoch: int
) -> bytes:
    components = [_component(e, release) for e in sorted(entries, key=lambda e: e.path)]
    body = json.dumps(components, sort_keys=True)
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, body)}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {
                "components": [
                    {"type": "application", "name": "mattermost-deployer", "version": deployer_version}
                ]
            },
            "component": {
                "type": "platform",
                "bom-ref": f"bundle:{environment}",
                "name": f"mattermost-offline-bundle-{environment}",
                "version": deployer_version,
            },
        },
        "components": components,
    }
    return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode()
