"""A copy of k8s-prod whose images live in a local OCI layout folder, with its own signing keys.

Images are written the way skopeo leaves an OCI layout (one small layer each), so bundles for a
kubernetes environment can be built and checked without Docker or a registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from deployer.bundle import keys
from deployer.bundle.providers import ArtifactProvider, default_providers
from deployer.kube.images import ImageRef
from deployer.kube.oci import canonical_json
from tests.unit.fake_kube_api import ROOT

PROD = ROOT / "inventories" / "k8s-prod" / "topology.yml"
APP = "mattermost/mattermost-enterprise-edition"
POSTGRES = "cloudnative-pg/postgresql"
REF_NAME = "org.opencontainers.image.ref.name"


def add_image(layout: Path, tag: str, content: bytes) -> str:
    """One single-layer image, named `tag` in the layout's index.json; returns its manifest digest."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("payload.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    layer = buffer.getvalue()
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": put(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    digest = put(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index_file = layout / "index.json"
    index = (
        json.loads(index_file.read_text()) if index_file.exists() else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": len(manifest),
            "annotations": {REF_NAME: tag},
        }
    )
    index_file.write_text(json.dumps(index))
    return digest


@dataclass
class KubeEnv:
    """The environment folder, its layout of images (tag -> digest) and what the manifests show."""

    folder: Path
    layout: Path
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def topology(self) -> Path:
        return self.folder / "topology.yml"

    @property
    def bundle(self) -> Path:
        return self.folder / "out" / "k8s-prod.tar.zst"

    @property
    def pubkey(self) -> Path:
        return self.folder / "keys" / "bundle.pub"

    def pinned(self, tag: str) -> str:
        return f"{APP}:{tag}@{self.digests[tag]}"

    def pin(self, tag: str) -> None:
        """Point kubernetes.mattermost_image at the layout's image `tag`."""
        text = re.sub(
            r"^  mattermost_image: .*$",
            f"  mattermost_image: {self.pinned(tag)}",
            self.topology.read_text(),
            flags=re.MULTILINE,
        )
        self.topology.write_text(text)

    def rendered_image(self, tag: str) -> str:
        """The image as the rendered Deployment names it: in the site registry, digest kept."""
        registry = re.search(r"^  registry: (\S+)$", self.topology.read_text(), flags=re.MULTILINE)
        assert registry is not None
        return str(ImageRef.parse(self.pinned(tag)).relocated(registry.group(1)))


def k8s_prod_with(replacements: dict[str, str]) -> str:
    """inventories/k8s-prod's topology with each pattern's one line replaced, the bundle in out/."""
    replacements = {
        r"^  path: .*$": "  path: out/k8s-prod.tar.zst",
        r"^  public_key: .*$": "  public_key: keys/bundle.pub",
        **replacements,
    }
    text = PROD.read_text()
    for pattern, line in replacements.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
        assert count == 1, pattern
    return text


def make_env(tmp_path: Path) -> KubeEnv:
    """k8s-prod with images 10.5.2 and 10.5.3 (Mattermost) and 15 (PostgreSQL) in a layout folder."""
    env = KubeEnv(tmp_path / "k8s-prod", tmp_path / "layout")
    for tag, content in (
        ("10.5.2", b"mattermost 10.5.2\n"),
        ("10.5.3", b"mattermost 10.5.3\n"),
        ("15", b"pg\n"),
    ):
        env.digests[tag] = add_image(env.layout, tag, content)
    env.folder.mkdir()
    pg = {r"^  postgres_image: .*$": f"  postgres_image: {POSTGRES}:15@{env.digests['15']}"}
    env.topology.write_text(k8s_prod_with(pg))
    env.pin("10.5.2")
    keys.generate(env.folder / "keys", with_repo_key=False)
    return env


def offline_providers() -> list[ArtifactProvider]:
    """Every provider but the wheels, which need a package index (not reachable from unit tests)."""
    return [p for p in default_providers() if p.name != "wheels"]
