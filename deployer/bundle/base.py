"""The minimal Debian host image the OS package closure is resolved against, built once and cached."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from deployer.bundle.errors import BundleToolError
from deployer.bundle.progress import Reporter
from deployer.bundle.tools import debian_mirror, require, run

# The same recipe as the lab's host image (issue 3): the closure is "what a lab host lacks".
BASE_INCLUDE = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2")
BASE_VARIANT = "minbase"
IMAGE_NAME = "deployer-bundle-base"


def recipe_hash(release: str) -> str:
    recipe = {"release": release, "variant": BASE_VARIANT, "include": list(BASE_INCLUDE)}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def ensure_base_image(release: str, reporter: Reporter) -> str:
    """A Docker image of the hosts' minimal base: the lab's host image when the lab is present.

    DEPLOYER_BASE_IMAGE overrides it; without the lab package, a debootstrap of the same recipe
    is built and cached here, so the closure is "what a lab host lacks" either way.
    """
    override = os.environ.get("DEPLOYER_BASE_IMAGE")
    if override:
        return override
    require("docker", "docker.io")
    try:
        from deployer.lab.image import ensure_image  # noqa: PLC0415 - optional sibling package
    except ImportError:
        return _own_image(release, reporter)
    with reporter.step("lab base image"):
        return ensure_image(reporter.line)


def _own_image(release: str, reporter: Reporter) -> str:
    tag = f"{IMAGE_NAME}:{release}-{recipe_hash(release)}"
    probe = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    if probe.returncode == 0:
        return tag
    require("debootstrap", "debootstrap")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="deployer-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        with reporter.step(f"debootstrap {release} {BASE_VARIANT} base image {tag}"):
            run(
                [
                    "debootstrap",
                    f"--variant={BASE_VARIANT}",
                    f"--include={','.join(BASE_INCLUDE)}",
                    release,
                    str(rootfs),
                    mirror,
                ],
                what="debootstrap of the base image",
            )
        with reporter.step(f"docker import {tag}"):
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                ["docker", "import", "-c", 'CMD ["/sbin/init"]', "-", tag],
                stdin=tar.stdout,
                capture_output=True,
                check=False,
            )
            tar.wait()
            if imported.returncode != 0 or tar.returncode != 0:
                raise BundleToolError(
                    f"docker import of the base image failed: {imported.stderr.decode().strip()}",
                    hint="check that the Docker engine runs (docker info)",
                )
        shutil.rmtree(rootfs, ignore_errors=True)
    return tag
