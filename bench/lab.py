"""Bench: `lab up -e staging` with a cached image (target < 60 s) and memory per host, then down."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from deployer.lab import lifecycle
from deployer.lab.image import ensure_image
from deployer.topology import load_environment

ENV = "staging"
TARGET_SECONDS = 60.0
CGROUP = Path("/sys/fs/cgroup")


def memory_mib(container: str) -> float:
    """Memory in use by one host, as `docker stats` defines it: usage minus inactive file cache.

    Read from the cgroup itself: with --cgroupns=host, Docker 20.10's `docker stats` often shows
    0 B for a container whose systemd moved its processes into sub-cgroups.
    """
    cid = subprocess.run(
        ["docker", "inspect", "--format", "{{.Id}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    v1 = CGROUP / "memory" / "docker" / cid
    if v1.is_dir():
        usage = int((v1 / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (v1 / "memory.stat").read_text().splitlines())
        return (usage - int(stat.get("total_inactive_file", 0))) / 2**20
    for v2 in (CGROUP / "docker" / cid, CGROUP / "system.slice" / f"docker-{cid}.scope"):
        if v2.is_dir():
            usage = int((v2 / "memory.current").read_text())
            stat = dict(line.split() for line in (v2 / "memory.stat").read_text().splitlines())
            return (usage - int(stat.get("inactive_file", 0))) / 2**20
    return float("nan")


def memory_per_host(containers: list[str]) -> dict[str, float]:
    return {name: memory_mib(name) for name in containers}


def main() -> int:
    environment = load_environment(ENV)
    started = time.monotonic()
    ensure_image(print)
    image_seconds = time.monotonic() - started
    lifecycle.down(ENV)
    try:
        started = time.monotonic()
        result = lifecycle.up(environment)
        cold = time.monotonic() - started
        # Baseline from the same run: an `up` with nothing left to do is the fixed overhead
        # (docker inspect, systemd/ssh probes, SSH logins) that every `up` pays.
        started = time.monotonic()
        lifecycle.up(environment)
        warm = time.monotonic() - started
        time.sleep(5)  # let first-boot jobs settle so the memory figure is the steady one
        memory = memory_per_host([h.container for h in result.plan.hosts])
    finally:
        lifecycle.down(ENV)
    hosts = len(result.plan.hosts)
    print(f"image ready (cached check or build): {image_seconds:6.1f} s")
    print(f"lab up -e {ENV}, {hosts} hosts, cached image:  {cold:6.1f} s (target < {TARGET_SECONDS:.0f} s)")
    print(f"baseline: second lab up (nothing to do): {warm:6.1f} s")
    print(
        f"memory per host: mean {statistics.mean(memory.values()):.1f} MiB, "
        f"max {max(memory.values()):.1f} MiB, total {sum(memory.values()):.0f} MiB"
    )
    for name, mib in sorted(memory.items()):
        print(f"  {name:<24} {mib:6.1f} MiB")
    return 0 if cold < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
