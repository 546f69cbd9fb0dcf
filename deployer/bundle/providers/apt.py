"""OS packages: the dependency closure for the hosts' release, resolved against the lab's base."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deployer.bundle.aptrepo import KEYRING_NAME, Deb, build_repository
from deployer.bundle.base import ensure_base_image
from deployer.bundle.content import BundlePlan
from deployer.bundle.errors import BundleInputError, BundleToolError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.bundle.tools import SOURCES_FILE
from deployer.topology.model import Platform

# apt on the hosts installs Recommends by default; bundling them means no install differs
# from the one resolved here.
INSTALL_RECOMMENDS = True
INST_RE = re.compile(r"^Inst (?P<name>\S+) (?:\[[^\]]*\] )?\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    filename: str
    sha256: str


class AptRepositoryProvider:
    name = "apt"

    def applies(self, plan: BundlePlan) -> bool:
        return plan.platform is Platform.VM and bool(plan.os_packages)

    def collect(self, ctx: BuildContext) -> list[Staged]:
        if ctx.repo_secret_key is None:
            raise BundleInputError(
                "the apt repository key is missing",
                hint="run 'deployer bundle keygen -o DIR' (it writes apt-repo.secret.asc next to bundle.key)",
            )
        packages, archives = resolve_closure(ctx.plan, ctx)
        debs = [Deb(archives / p.filename, f"pool/main/{p.filename}") for p in packages]
        staged = [
            stage(
                deb.source,
                f"apt/{deb.filename}",
                kind=Kind.DEB,
                name=p.name,
                version=p.version,
                origin=f"debian:{ctx.plan.release}",
            )
            for deb, p in zip(debs, packages, strict=True)
        ]
        repo = ctx.work / "apt"
        with ctx.reporter.step(f"apt repository over {len(debs)} packages, signed"):
            written = build_repository(
                debs, ctx.plan.release, repo, secret_key=ctx.repo_secret_key, epoch=ctx.epoch
            )
        for path in written:
            rel = path.relative_to(repo).as_posix()
            kind = Kind.APT_KEY if path.name == KEYRING_NAME else Kind.APT_INDEX
            staged.append(
                stage(path, f"apt/{rel}", kind=kind, name=rel, version=ctx.plan.release, origin="generated")
            )
        return staged


def resolve_closure(plan: BundlePlan, ctx: BuildContext) -> tuple[list[Package], Path]:
    """Packages a base host lacks for `plan.os_packages`; cached by inputs, so reruns stay offline."""
    archives = ctx.cache / "apt" / plan.release / "archives"
    lists = ctx.cache / "apt" / plan.release / "lists"
    sources = SOURCES_FILE.read_bytes() if SOURCES_FILE.is_file() else b""
    image = ensure_base_image(plan.release, ctx.reporter) if ctx.refresh else None
    key_data = {
        "packages": list(plan.os_packages),
        "release": plan.release,
        "recommends": INSTALL_RECOMMENDS,
        "sources": hashlib.sha256(sources).hexdigest(),
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:16]
    lock = ctx.cache / "apt" / plan.release / f"closure-{key}.json"
    if lock.is_file() and not ctx.refresh:
        cached = [Package(**p) for p in json.loads(lock.read_text())]
        if all(_matches(archives / p.filename, p.sha256) for p in cached):
            ctx.reporter.line(f"apt closure: {len(cached)} packages from the cache ({lock.name})")
            return cached, archives
    image = image or ensure_base_image(plan.release, ctx.reporter)
    for folder in (archives / "partial", lists / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    names = " ".join(shlex.quote(p) for p in plan.os_packages)
    recommends = "" if INSTALL_RECOMMENDS else "--no-install-recommends"
    script = (
        "set -e; rm -f /etc/apt/sources.list; "
        "apt-get -o APT::Sandbox::User=root update -qq; "
        f"apt-get install -s -y {recommends} {names} | grep '^Inst ' || true; "
        f"apt-get -o APT::Sandbox::User=root install --download-only -y -qq {recommends} {names} >&2"
    )
    args = [
        "docker",
        "run",
        "--rm",
        "--network",
        "bridge",
        "-v",
        f"{SOURCES_FILE}:/etc/apt/sources.list.d/debian.sources:ro",
        "-v",
        f"{archives.resolve()}:/var/cache/apt/archives",
        "-v",
        f"{lists.resolve()}:/var/lib/apt/lists",
        image,
        "sh",
        "-c",
        script,
    ]
    with ctx.reporter.step(f"apt closure of {len(plan.os_packages)} packages in {image} (connected side)"):
        proc = subprocess.run(args, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-10:]
        raise BundleToolError(
            "resolving the OS package closure failed:\n    " + "\n    ".join(tail),
            hint="the builder needs Docker and a reachable Debian mirror (the connected side)",
        )
    packages: list[Package] = []
    for line in proc.stdout.decode().splitlines():
        match = INST_RE.match(line)
        if not match:
            continue
        name, version, arch = match.group("name", "version", "arch")
        filename = f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
        path = archives / filename
        if not path.is_file():
            raise BundleToolError(f"apt planned {name} {version} but {filename} was not downloaded")
        packages.append(Package(name, version, arch, filename, hashlib.sha256(path.read_bytes()).hexdigest()))
    if not packages:
        raise BundleToolError("apt resolved an empty closure; the package list or base image is wrong")
    packages.sort(key=lambda p: p.filename)
    lock.write_text(json.dumps([p.__dict__ for p in packages], indent=1) + "\n")
    return packages, archives


def _matches(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
