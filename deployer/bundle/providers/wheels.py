"""Python wheels: the deployer's own and all its dependencies, for a Debian 12 bastion (cp311)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from deployer import paths
from deployer.bundle.content import BundlePlan
from deployer.bundle.errors import BundleInputError, BundleToolError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.bundle.tools import run

# Debian 12 ships glibc 2.36 and Python 3.11: every manylinux tag up to 2.36 installs there.
PYTHON_VERSION = "3.11"
ABI = "cp311"
GLIBC_MAX = 36
WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-")
SELF_NAME = "mattermost_deployer"


def platform_args() -> list[str]:
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MAX, 16, -1)]
    tags += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    args += ["--abi", ABI, "--abi", "abi3", "--abi", "none"]
    for tag in tags:
        args += ["--platform", tag]
    return args


class WheelsProvider:
    name = "wheels"

    def applies(self, plan: BundlePlan) -> bool:
        del plan
        return True

    def collect(self, ctx: BuildContext) -> list[Staged]:
        own = build_own_wheel(ctx)
        deps = download_dependencies(own, ctx)
        staged = [_wheel(own, "built from the deployer's source tree", ctx)]
        staged += [_wheel(w, f"pypi:{_meta(w)[0]}=={_meta(w)[1]}", ctx) for w in deps]
        return staged


def _meta(wheel: Path) -> tuple[str, str]:
    match = WHEEL_RE.match(wheel.name)
    if not match:
        raise BundleToolError(f"unexpected wheel file name {wheel.name}")
    return match.group("name").replace("_", "-").lower(), match.group("version")


def _wheel(wheel: Path, origin: str, ctx: BuildContext) -> Staged:
    del ctx
    name, version = _meta(wheel)
    return stage(wheel, f"wheels/{wheel.name}", kind=Kind.WHEEL, name=name, version=version, origin=origin)


def source_tree() -> Path:
    root = paths.PACKAGE_DIR.parent
    if not (root / "pyproject.toml").is_file():
        raise BundleInputError(
            "the deployer's own wheel is built from a source checkout, and this one is installed",
            hint="run 'deployer bundle build' from the git checkout of the deployer",
        )
    return root


TOP_LEVEL_LEFTOVERS = {
    ".git",
    ".venv",
    "build",
    "dist",
    "tests",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}


def _leftovers(root: Path, folder: str, names: list[str]) -> set[str]:
    skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    if Path(folder) == root:
        skipped |= TOP_LEVEL_LEFTOVERS & set(names)
    return skipped


def build_own_wheel(ctx: BuildContext) -> Path:
    out = ctx.work / "own-wheel"
    out.mkdir(parents=True, exist_ok=True)
    # A copy without build/ and .venv/, so the wheel never depends on local leftovers.
    with (
        ctx.reporter.step("build the deployer wheel"),
        tempfile.TemporaryDirectory(prefix="deployer-src-") as tmp,
    ):
        src = Path(tmp) / "src"
        root = source_tree()
        shutil.copytree(root, src, ignore=functools.partial(_leftovers, root))
        run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
            what="building the deployer wheel",
            env={"SOURCE_DATE_EPOCH": str(ctx.epoch)},
        )
    wheels = sorted(out.glob(f"{SELF_NAME}-*.whl"))
    if len(wheels) != 1:
        raise BundleToolError(f"expected one deployer wheel in {out}, found {len(wheels)}")
    return wheels[0]


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    return sorted(
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )


def download_dependencies(own: Path, ctx: BuildContext) -> list[Path]:
    """The dependency closure; cached by the requirement list, so unchanged deps never re-download."""
    # pip itself rides along: a bare bastion has python3 but no pip (see deployer.bundle.bootstrap).
    key_data = json.dumps({"requires": [*_requirements(own), "pip"], "platform": platform_args()})
    key = hashlib.sha256(key_data.encode()).hexdigest()[:16]
    folder = ctx.cache / "wheels" / key
    lock = folder / "lock.json"
    if lock.is_file() and not ctx.refresh:
        names = json.loads(lock.read_text())
        files = [folder / n for n in names]
        if all(f.is_file() for f in files):
            return files
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with ctx.reporter.step(f"pip download the deployer's dependencies ({PYTHON_VERSION}, manylinux x86_64)"):
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                *platform_args(),
                "-d",
                str(folder),
                str(own),
                "pip",
            ],
            what="pip download of the deployer's dependencies",
        )
    files = sorted(p for p in folder.glob("*.whl") if not p.name.startswith(f"{SELF_NAME}-"))
    for stray in folder.glob(f"{SELF_NAME}-*.whl"):
        stray.unlink()
    lock.write_text(json.dumps([f.name for f in files], indent=1) + "\n")
    return files
