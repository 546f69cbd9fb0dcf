"""Builds the lab's base image from debootstrap, cached under a tag that is the hash of its recipe."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from deployer.lab.docker import image_exists
from deployer.lab.errors import ImageBuildError, LabError
from deployer.lab.state import lab_root

IMAGE_REPOSITORY = "deployer-lab"
SOURCES_FILES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))

# Everything that ends up in the image lives in this script, so hashing it catches every change.
# Nothing beyond what a bare host needs to be reached is added: roles must bring every other
# package from the offline bundle, or a deploy into the lab would not prove the air gap.
CUSTOMIZE = r"""set -eu
# The deploy user; its authorized key differs per environment and is installed at `lab up`.
useradd --create-home --shell /bin/bash deployer
usermod --password '*' deployer
echo 'deployer ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/deployer
chmod 0440 /etc/sudoers.d/deployer
# Hosts must not share host keys: drop the ones baked in by the build, make one at first boot.
rm -f /etc/ssh/ssh_host_*
cat >/etc/ssh/sshd_config.d/lab.conf <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
CONF
cat >/etc/systemd/system/lab-ssh-hostkey.service <<'UNIT'
[Unit]
Description=Generate this host's own SSH host key at first boot
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=ssh.service
UNIT
mkdir -p /etc/systemd/system/ssh.service.wants
ln -sf ../lab-ssh-hostkey.service /etc/systemd/system/ssh.service.wants/lab-ssh-hostkey.service
# Docker gives even an --internal network's containers a default route via the machine's
# bridge; drop it at every boot so anything aiming outside fails at once ("Network is
# unreachable") and the routing table shows the air gap. `lab` drops it again on reconnects.
cat >/etc/systemd/system/lab-airgap.service <<'UNIT'
[Unit]
Description=Remove the default route: a lab host has no way out
DefaultDependencies=no
Before=network.target ssh.service

[Service]
Type=oneshot
ExecStart=/usr/sbin/ip -4 route flush exact 0.0.0.0/0
ExecStart=/usr/sbin/ip -6 route flush exact ::/0

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf ../lab-airgap.service /etc/systemd/system/multi-user.target.wants/lab-airgap.service
# Each host gets its own machine id at first boot, like a freshly installed machine.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
# Units that manage hardware or consoles a container does not have; they would only fail.
# The ask-password watchers also cost two of the machine's shared inotify instances per host.
for unit in systemd-remount-fs.service getty@tty1.service console-getty.service \
    systemd-ask-password-wall.path systemd-ask-password-console.path \
    systemd-firstboot.service sys-kernel-config.mount sys-kernel-debug.mount \
    sys-kernel-tracing.mount dev-hugepages.mount dev-mqueue.mount \
    systemd-modules-load.service systemd-sysctl.service kmod-static-nodes.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
# The offline bundle brings its own repository; stale indexes would only mislead apt.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old
"""


@dataclass(frozen=True)
class Recipe:
    """What the base image is made of; its hash is the image tag."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = (
        "systemd",
        "systemd-sysv",
        "dbus",
        "openssh-server",
        "python3",
        "sudo",
        "iproute2",
    )
    customize: str = CUSTOMIZE
    changes: tuple[str, ...] = ('CMD ["/sbin/init"]', "ENV container=docker")

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def reference(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.digest()}"


RECIPE = Recipe()


def debian_mirror(files: tuple[Path, ...] = SOURCES_FILES, suite: str = "bookworm") -> str:
    """The machine's own Debian mirror for `suite`, read from its apt configuration."""
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        found = mirror_from_sources(text, suite)
        if found:
            return found
    raise LabError(
        f"no Debian mirror for {suite} found in {' or '.join(str(f) for f in files)}",
        hint="configure apt with a reachable Debian mirror (a `URIs:` line in debian.sources)",
    )


def mirror_from_sources(text: str, suite: str) -> str | None:
    """First URI serving `suite` in deb822 stanzas or one-line `deb URL SUITE` entries."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if suite in fields.get("suites", "").split() and "deb" in fields.get("types", "deb").split():
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    for line in text.splitlines():
        # `deb [options] URL SUITE ...`: options in brackets are skipped, not parsed.
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:  # noqa: PLR2004
            return words[1]
    return None


def ensure_image(progress: Callable[[str], None] = lambda _: None, recipe: Recipe = RECIPE) -> str:
    """The image reference for `recipe`, built first if this machine does not have it yet."""
    reference = recipe.reference
    if image_exists(reference):
        return reference
    root = lab_root()
    root.mkdir(parents=True, exist_ok=True)
    # Two runs building at once would both spend a minute and race on the tag.
    with (root / "image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image_exists(reference):
            return reference
        build_image(recipe, root / f"image-build-{recipe.digest()}.log", progress)
    return reference


def build_image(recipe: Recipe, log_path: Path, progress: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the lab image needs root (debootstrap creates device nodes and owners)",
            hint="run `deployer lab up` as root",
        )
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is not installed",
            hint="install it with `apt-get install -y debootstrap` (or run `make lab-prereqs`)",
        )
    mirror = debian_mirror(suite=recipe.suite)
    started = time.monotonic()
    progress(f"building base image {recipe.reference} (about a minute; log: {log_path})")
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=log_path.parent))
    try:
        with log_path.open("w", encoding="utf-8") as log:
            _step(
                log,
                log_path,
                "debootstrap",
                [
                    "debootstrap",
                    f"--variant={recipe.variant}",
                    f"--include={','.join(recipe.packages)}",
                    recipe.suite,
                    str(rootfs),
                    mirror,
                ],
            )
            _step(log, log_path, "customize", ["chroot", str(rootfs), "/bin/sh", "-c", recipe.customize])
            _import(rootfs, recipe, log, log_path)
    finally:
        _remove_rootfs(rootfs)
    progress(f"built {recipe.reference} in {time.monotonic() - started:.0f} s")


def _step(stream: TextIO, log_path: Path, name: str, argv: list[str]) -> None:
    stream.write(f"$ {' '.join(argv[:6])}\n")
    stream.flush()
    result = subprocess.run(argv, stdout=stream, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise ImageBuildError(
            f"building the lab image failed at {name} (exit {result.returncode})",
            hint=f"read the build log {log_path}",
        )


def _import(rootfs: Path, recipe: Recipe, stream: TextIO, log_path: Path) -> None:
    changes = [arg for change in recipe.changes for arg in ("--change", change)]
    stream.write(f"$ tar -C {rootfs} -c . | docker import ... {recipe.reference}\n")
    stream.flush()
    with subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=stream,
    ) as tar:
        result = subprocess.run(
            ["docker", "import", *changes, "-", recipe.reference],
            stdin=tar.stdout,
            stdout=stream,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar_rc = tar.wait()
    if tar_rc != 0 or result.returncode != 0:
        raise ImageBuildError(
            f"importing the lab image failed (tar exit {tar_rc}, docker import exit {result.returncode})",
            hint=f"read the build log {log_path}",
        )


def _remove_rootfs(rootfs: Path) -> None:
    """Delete the build tree, but never while something is still mounted inside it."""
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
        if line.split()[1].startswith(str(rootfs) + "/")
    ]
    for mount in sorted(mounts, reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=False, capture_output=True)
    still = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
        if line.split()[1].startswith(str(rootfs) + "/")
    ]
    if still:
        # Deleting through a bind mount of /dev or /proc would damage the machine itself.
        raise ImageBuildError(
            f"the build tree {rootfs} still has mounts inside it: {', '.join(still)}",
            hint=f"unmount them, then remove {rootfs}",
        )
    shutil.rmtree(rootfs, ignore_errors=True)
