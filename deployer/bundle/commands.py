"""What each `deployer bundle` subcommand does and prints, apart from the CLI framework."""

from __future__ import annotations

import time
from pathlib import Path

from deployer.bundle import keys
from deployer.bundle.archive import parse_size
from deployer.bundle.build import BuildOptions, build_environment
from deployer.bundle.errors import BundleInputError
from deployer.bundle.progress import Reporter, human_size
from deployer.bundle.report import diff_json, diff_text, inspect_json, inspect_text
from deployer.bundle.unpack import unpack
from deployer.bundle.verify import environment_trust, raise_for, scan_bundle, trusted_key, verify_tree
from deployer.topology import Environment, load_environment
from deployer.topology.model import Platform


def keygen_command(out: Path, *, force: bool) -> str:
    paths = keys.generate(out, force=force)
    public = keys.load_public(paths.public)
    return "\n".join(
        [
            f"signing key   {paths.private}  (keep it on the connected side; never carry it)",
            f"public key    {paths.public}  (key id {keys.key_id(public)}; every verifier trusts this one)",
            f"apt repo key  {paths.repo_secret}  (signs the bundle's apt repository)",
            f"              {paths.repo_public}",
        ]
    )


def build_command(
    *,
    env_name: str | None,
    inventory: str | None,
    out: Path | None,
    key: Path | None,
    since: Path | None,
    split: str | None,
    tarball: str | None,
    refresh: bool,
    images_from: Path | None = None,
) -> str:
    env = load_environment(env_name, inventory)
    _check_platform_options(env, tarball=tarball, images_from=images_from)
    options = BuildOptions(
        out_dir=out,
        key=key,
        since=since,
        split=parse_size(split) if split else None,
        mattermost_tarball=tarball,
        refresh=refresh,
        image_layout=images_from,
    )
    result = build_environment(env, options, reporter=Reporter())
    manifest = result.manifest
    carried = [f for f in manifest.files if f.included]
    lines = [
        (
            f"bundle for {manifest.environment} ({manifest.target_release}, "
            f"Mattermost {manifest.mattermost_version}): {len(manifest.files)} files, "
            f"{human_size(manifest.total_size)} -> {human_size(result.size)} in {result.seconds:.1f}s"
        ),
    ]
    if manifest.base is not None:
        lines.append(
            f"delta: carries {len(carried)} files ({human_size(sum(f.size for f in carried))}), "
            f"base manifest sha256 {manifest.base.manifest_sha256[:16]}..."
        )
    lines += [f"  {_shown(p)}" for p in result.outputs]
    if result.kit:
        lines.append(
            "bastion bootstrap kit (plain tar, OpenPGP-signed; see README 'Deploy from the bastion'):"
        )
        lines += [f"  {_shown(p)}" for p in result.kit]
    lines.append(f"signed with key {manifest.key_id}")
    return "\n".join(lines)


def _check_platform_options(env: Environment, *, tarball: str | None, images_from: Path | None) -> None:
    """An option meant for the other platform would be silently ignored; say so instead."""
    kubernetes = env.topology.platform is Platform.KUBERNETES
    if kubernetes and tarball:
        raise BundleInputError(
            f"{env.name} is a kubernetes environment: Mattermost comes as a container image, "
            "not as a release tarball",
            hint="drop --mattermost-tarball; pin kubernetes.mattermost_image in the topology",
        )
    if not kubernetes and images_from is not None:
        raise BundleInputError(
            f"{env.name} is a VM environment: it carries no container images",
            hint="drop --images-from (it is for environments with platform: kubernetes)",
        )


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _trust(
    pubkey: Path | None, env_name: str | None, inventory: str | None, file: Path | None
) -> tuple[Path, Path]:
    if env_name or inventory:
        bundle_path, public = environment_trust(load_environment(env_name, inventory))
        return file or bundle_path, pubkey or public
    if file is None or pubkey is None:
        raise BundleInputError(
            "verify needs the bundle and the trusted public key",
            hint="pass FILE --pubkey KEY, or -e ENV to take both from the topology",
        )
    return file, pubkey


def verify_command(
    file: Path | None, pubkey: Path | None, env_name: str | None, inventory: str | None
) -> str:
    path, public_path = _trust(pubkey, env_name, inventory, file)
    public = trusted_key(public_path)
    start = time.monotonic()
    if path.is_dir():
        manifest = verify_tree(path, public)
        return f"OK {path}: signature by key {manifest.key_id} and all {len(manifest.files)} files match"
    report = scan_bundle(path, public, reporter=Reporter())
    raise_for(report, str(path))
    manifest = report.manifest
    seconds = time.monotonic() - start
    delta = (
        f" (a delta: {sum(not f.included for f in manifest.files)} more files come from its base)"
        if manifest.base
        else ""
    )
    return (
        f"OK {path}: signature by trusted key {manifest.key_id}; {report.checked_files} files, "
        f"{human_size(report.checked_bytes)} match the manifest{delta} ({seconds:.1f}s)"
    )


def inspect_command(file: Path, fmt: str) -> str:
    return inspect_json(file) if fmt == "json" else inspect_text(file)


def diff_command(old: Path, new: Path, fmt: str) -> str:
    return diff_json(old, new) if fmt == "json" else diff_text(old, new)


def unpack_command(
    file: Path, store: Path, pubkey: Path | None, env_name: str | None, inventory: str | None
) -> str:
    _, public = _trust(pubkey, env_name, inventory, file)
    result = unpack(file, store, public, reporter=Reporter())
    if result.already:
        return f"already unpacked: {result.release_dir} (verified again); {result.link} points to it"
    reused = f", {result.reused} reused from the base" if result.reused else ""
    return (
        f"unpacked {result.extracted} files{reused} into {result.release_dir}; all "
        f"{len(result.manifest.files)} verify\n{result.link} -> {result.release_dir.name}"
    )
