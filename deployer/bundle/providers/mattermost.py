"""The Mattermost release tarball, from a local path or a URL, named as the roles expect it."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from deployer.bundle.content import BundlePlan
from deployer.bundle.errors import BundleInputError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.topology.model import Platform

GZIP_MAGIC = b"\x1f\x8b"


class MattermostProvider:
    name = "mattermost"

    def applies(self, plan: BundlePlan) -> bool:
        # On Kubernetes the server comes as a container image (the kubernetes provider).
        return plan.platform is Platform.VM

    def collect(self, ctx: BuildContext) -> list[Staged]:
        plan = ctx.plan
        given = ctx.mattermost_tarball
        if given and urlparse(given).scheme in {"http", "https"}:
            source, origin = _download(given, ctx), given
        else:
            source = Path(given) if given else plan.env_root / plan.mattermost_file
            origin = f"file:{source.name}"
        if not source.is_file():
            raise BundleInputError(
                f"Mattermost release tarball not found: {source}",
                hint=f"pass --mattermost-tarball PATH_OR_URL ({plan.mattermost_file}), or put it "
                "in the environment folder",
            )
        with source.open("rb") as handle:
            if handle.read(2) != GZIP_MAGIC:
                raise BundleInputError(f"{source} is not a gzip tarball", hint=f"pass {plan.mattermost_file}")
        return [
            stage(
                source,
                f"mattermost/{plan.mattermost_file}",
                kind=Kind.RELEASE_TARBALL,
                name="mattermost-server",
                version=plan.mattermost_version,
                origin=origin,
            )
        ]


def _download(url: str, ctx: BuildContext) -> Path:
    folder = ctx.cache / "mattermost" / hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / ctx.plan.mattermost_file
    if target.is_file() and not ctx.refresh:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - http(s) only, checked above
            total = int(response.headers.get("Content-Length") or 0)
            with ctx.reporter.bar(f"download {target.name}", total) as advance, partial.open("wb") as out:
                while chunk := response.read(1024 * 1024):
                    out.write(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BundleInputError(
            f"cannot download {url}: {exc}", hint="check the URL, or pass a local file"
        ) from exc
    shutil.move(partial, target)
    return target
