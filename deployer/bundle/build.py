"""Builds a bundle: providers stage files, then one signed manifest, an SBOM and a deterministic tar.zst."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deployer.bundle import keys
from deployer.bundle.archive import CHUNK, JoinedReader, Member, ZstdStream, locate_parts, write_bundle
from deployer.bundle.bootstrap import write_kit
from deployer.bundle.content import Defaults, load_defaults, plan_for
from deployer.bundle.errors import BundleInputError
from deployer.bundle.manifest import (
    MANIFEST_NAME,
    SBOM_NAME,
    SIGNATURE_NAME,
    DeltaBase,
    Kind,
    Manifest,
    manifest_digest,
)
from deployer.bundle.progress import Reporter
from deployer.bundle.providers import ArtifactProvider, BuildContext, Staged, default_providers, stage
from deployer.bundle.sbom import make_sbom
from deployer.topology import Environment

# Used for tar mtimes, the SBOM timestamp and the Release date unless SOURCE_DATE_EPOCH is set.
DEFAULT_EPOCH = 1704067200  # 2024-01-01T00:00:00Z


def deployer_version() -> str:
    try:
        return version("mattermost-deployer")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def build_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    if not value.isdigit():
        raise BundleInputError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def cache_dir() -> Path:
    base = os.environ.get("DEPLOYER_CACHE_DIR")
    return Path(base) if base else Path.cwd() / "build" / "cache" / "bundle"


@dataclass(frozen=True)
class BuildOptions:
    out_dir: Path | None = None
    key: Path | None = None
    since: Path | None = None
    split: int | None = None
    mattermost_tarball: str | None = None
    refresh: bool = False
    cache: Path | None = None
    image_layout: Path | None = None  # kubernetes: an OCI layout folder; None: the Docker daemon


@dataclass(frozen=True)
class BundleMeta:
    environment: str
    platform: str
    target_release: str
    mattermost_version: str


@dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    outputs: list[Path]
    seconds: float
    kit: list[Path] = field(default_factory=list)  # the bastion's bootstrap kit and its signature

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.outputs)


def default_target(env: Environment) -> Path:
    configured = env.topology.bundle.path
    target = env.relative(configured) if configured else Path("build") / "bundles" / f"{env.name}.tar.zst"
    return target.resolve()


def default_key(env: Environment) -> Path:
    public = env.topology.bundle.public_key
    folder = env.relative(public).parent if public else Path("build") / "keys"
    return folder / keys.PRIVATE_KEY_NAME


def build_environment(
    env: Environment,
    options: BuildOptions,
    *,
    reporter: Reporter,
    providers: list[ArtifactProvider] | None = None,
    defaults: Defaults | None = None,
) -> BuildResult:
    """Render the content list for `env` and build its bundle."""
    start = time.monotonic()
    key_path = options.key or default_key(env)
    private = keys.load_private(key_path)
    _check_trusted(env, private)
    key_paths = keys.KeyPaths.in_dir(key_path.parent)
    repo_secret = key_paths.repo_secret.read_bytes() if key_paths.repo_secret.is_file() else None
    plan = plan_for(env, defaults or load_defaults())
    target = (options.out_dir / default_target(env).name) if options.out_dir else default_target(env)
    target.parent.mkdir(parents=True, exist_ok=True)
    epoch = build_epoch()
    with tempfile.TemporaryDirectory(prefix=".deployer-bundle-", dir=target.parent) as work:
        ctx = BuildContext(
            plan=plan,
            cache=options.cache or cache_dir(),
            work=Path(work),
            reporter=reporter,
            epoch=epoch,
            repo_secret_key=repo_secret,
            mattermost_tarball=options.mattermost_tarball,
            refresh=options.refresh,
            environment=env,
            image_layout=options.image_layout,
        )
        staged: list[Staged] = []
        for provider in providers if providers is not None else default_providers():
            if provider.applies(plan):
                staged += provider.collect(ctx)
        meta = BundleMeta(plan.environment, plan.platform.value, plan.release, plan.mattermost_version)
        manifest, outputs = write_signed(
            staged,
            meta,
            target,
            private,
            work=Path(work),
            epoch=epoch,
            since=options.since,
            split=options.split,
            reporter=reporter,
        )
        kit: list[Path] = []
        if repo_secret is not None and any(s.entry.kind is Kind.WHEEL for s in staged):
            with reporter.step("write the bastion's bootstrap kit"):
                kit = write_kit(
                    staged, target, secret_key=repo_secret, keys_dir=key_paths.private.parent, epoch=epoch
                )
    return BuildResult(manifest, outputs, time.monotonic() - start, kit)


def _check_trusted(env: Environment, private: Ed25519PrivateKey) -> None:
    """Signing with a key the topology does not trust would only fail later, on the far side."""
    public = env.topology.bundle.public_key
    if not public or not env.relative(public).is_file():
        return
    trusted = keys.load_public(env.relative(public))
    if keys.key_id(trusted) != keys.key_id(private.public_key()):
        raise BundleInputError(
            f"the signing key ({keys.key_id(private.public_key())}) is not the key the topology trusts "
            f"({keys.key_id(trusted)}, {public})",
            hint="pass --key with the private half of bundle.public_key, or update the topology",
        )


def write_signed(
    staged: list[Staged],
    meta: BundleMeta,
    target: Path,
    private: Ed25519PrivateKey,
    *,
    work: Path,
    epoch: int,
    since: Path | None,
    split: int | None,
    reporter: Reporter,
) -> tuple[Manifest, list[Path]]:
    """The format itself: manifest and signature first, then every carried file sorted by path."""
    by_path: dict[str, Staged] = {}
    for item in staged:
        other = by_path.get(item.entry.path)
        if other is not None and other.entry.sha256 != item.entry.sha256:
            raise BundleInputError(f"two different files want the bundle path {item.entry.path}")
        by_path[item.entry.path] = item
    base: DeltaBase | None = None
    if since is not None:
        old_bytes = read_manifest_bytes(since)
        old = Manifest.from_bytes(old_bytes, where=str(since))
        base = DeltaBase(manifest_sha256=manifest_digest(old_bytes), environment=old.environment)
        carried_before = {f.sha256 for f in old.files}
        by_path = {
            path: Staged(
                item.entry.model_copy(update={"included": item.entry.sha256 not in carried_before}),
                item.source,
            )
            for path, item in by_path.items()
        }
    version_text = deployer_version()
    sbom = work / SBOM_NAME
    sbom.write_bytes(
        make_sbom(
            [s.entry for s in by_path.values()],
            environment=meta.environment,
            release=meta.target_release,
            deployer_version=version_text,
            epoch=epoch,
        )
    )
    by_path[SBOM_NAME] = stage(
        sbom, SBOM_NAME, kind=Kind.SBOM, name="sbom", version="CycloneDX-1.5", origin="generated"
    )
    entries = sorted((s.entry for s in by_path.values()), key=lambda e: e.path)
    manifest = Manifest(
        environment=meta.environment,
        platform=meta.platform,
        target_release=meta.target_release,
        mattermost_version=meta.mattermost_version,
        deployer_version=version_text,
        key_id=keys.key_id(private.public_key()),
        source_date_epoch=epoch,
        base=base,
        files=entries,
    )
    manifest_bytes = manifest.to_bytes()
    signature = keys.sign(private, manifest_bytes)
    carried = [by_path[e.path] for e in entries if e.included]
    total = sum(s.entry.size for s in carried)

    def members() -> Iterator[tuple[Member, Callable[[], BinaryIO]]]:
        yield Member(MANIFEST_NAME, len(manifest_bytes), 0o644), lambda: _bytes(manifest_bytes)
        yield Member(SIGNATURE_NAME, len(signature), 0o644), lambda: _bytes(signature)
        for item in carried:
            mode = 0o755 if item.entry.kind is Kind.BINARY else 0o644
            yield Member(item.entry.path, item.entry.size, mode), _opener(item.source)

    label = f"compress {len(carried)} files" + (" (delta)" if base else "")
    with reporter.bar(label, total) as advance:
        outputs = write_bundle(target, members(), mtime=epoch, split=split, on_bytes=advance, total=total)
    return manifest, outputs


def _bytes(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def read_manifest_bytes(path: Path) -> bytes:
    """The manifest of a bundle file (or its parts), or a manifest.json given directly."""
    if path.suffix == ".json":
        try:
            return path.read_bytes()
        except OSError as exc:
            raise BundleInputError(f"cannot read {path}: {exc.strerror}") from exc
    parts = locate_parts(path)
    raw = JoinedReader(parts)
    try:
        tar = tarfile.open(fileobj=ZstdStream(raw), mode="r|", bufsize=CHUNK)  # noqa: SIM115
        info = tar.next()
        handle = tar.extractfile(info) if info is not None and info.name == MANIFEST_NAME else None
        if handle is None:
            raise BundleInputError(f"{path} does not start with a {MANIFEST_NAME}")
        return handle.read()
    except tarfile.ReadError as exc:
        raise BundleInputError(f"{path} is not a bundle: {exc}") from exc
    finally:
        raw.close()
