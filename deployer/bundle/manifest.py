"""The signed description of a bundle: what every file is, where it came from and its sha256."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deployer.bundle.errors import BundleVerificationError

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
SBOM_NAME = "sbom.cdx.json"
# A manifest of a very large bundle is a few MiB; anything bigger is not ours.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class Kind(StrEnum):
    DEB = "deb"
    APT_INDEX = "apt-index"
    APT_KEY = "apt-key"
    WHEEL = "wheel"
    BINARY = "binary"
    RELEASE_TARBALL = "release-tarball"
    SBOM = "sbom"
    # Filled by the kubernetes providers (Helm chart package, container image archives).
    CHART = "chart"
    IMAGE = "image"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One file of the bundle's full set."""

    path: str = Field(description="Path inside the bundle and the store, '/'-separated.")
    kind: Kind
    name: str
    version: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    origin: str = Field(description="Where the content came from, for audits.")
    included: bool = Field(default=True, description="False in a delta bundle: the base bundle carries it.")

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        if not is_safe_path(value):
            raise ValueError(f"unsafe path in manifest: {value!r}")
        return value


class DeltaBase(_Model):
    """The bundle a delta builds on; unpack finds it in the store by its manifest hash."""

    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    environment: str


class Manifest(_Model):
    schema_version: int = MANIFEST_SCHEMA_VERSION
    environment: str
    platform: str
    target_release: str
    mattermost_version: str
    deployer_version: str
    key_id: str = Field(description="sha256 prefix of the signing public key, for messages.")
    source_date_epoch: int
    base: DeltaBase | None = None
    files: list[FileEntry]

    def to_bytes(self) -> bytes:
        """Canonical form: the signature covers exactly these bytes."""
        data = self.model_dump(mode="json")
        return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str = MANIFEST_NAME) -> Manifest:
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise BundleVerificationError(
                f"{where} is not a valid bundle manifest: {loc}: {first['msg']}"
            ) from exc
        if manifest.schema_version != MANIFEST_SCHEMA_VERSION:
            raise BundleVerificationError(
                f"{where} has schema version {manifest.schema_version}; "
                f"this deployer reads version {MANIFEST_SCHEMA_VERSION}",
                hint="use the deployer release that built the bundle",
            )
        return manifest

    @property
    def is_delta(self) -> bool:
        return self.base is not None

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def manifest_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_safe_path(value: str) -> bool:
    """Relative, normalised, no '..': a manifest can never write outside the store."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        return False
    parts = PurePosixPath(value).parts
    return all(p not in {"..", "."} for p in parts) and "/".join(parts) == value


def peek_manifest_key_id(data: bytes) -> str:
    """The key id an (unverified) manifest claims, only to word an error message."""
    try:
        claimed = json.loads(data).get("key_id", "")
    except (ValueError, AttributeError):
        return ""
    return claimed if isinstance(claimed, str) else ""
