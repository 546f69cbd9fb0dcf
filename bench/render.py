"""Times validate + explain + render on a generated 1,000-host topology (target: under 2 s)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from ipaddress import IPv4Network
from pathlib import Path

import yaml

from deployer.checks.explain import analyse
from deployer.checks.rules import run_checks
from deployer.render import render_environment
from deployer.topology import load_environment

TARGET_SECONDS = 2.0


def topology(hosts: int) -> dict[str, object]:
    subnet = IPv4Network("10.90.0.0/20")
    zones = ["zone-a", "zone-b", "zone-c"]
    roles = [["loadbalancer"]] * 4 + [["etcd"]] * 3 + [["storage"]] * 6 + [["database"]] * 7
    items = []
    for i in range(hosts):
        role = roles[i] if i < len(roles) else ["app"]
        items.append(
            {
                "name": f"h{i:04d}",
                "address": str(subnet.network_address + 20 + i),
                "zone": zones[i % 3],
                "rack": f"r{i % 7}",
                "roles": role,
            }
        )
    return {
        "schema": 1,
        "name": "bench",
        "mattermost": {
            "version": "10.5.2",
            "edition": "enterprise",
            "cluster_name": "mm-bench",
            "site_url": "https://chat.bench.example.internal",
            "license_file": "mattermost.license",
            "users": 200000,
        },
        "network": {"subnet": str(subnet)},
        "loadbalancer": {"vip": str(subnet.network_address + 10)},
        "storage": {"type": "s3", "replication": 2},
        "hosts": items,
    }


def measure(path: Path, out: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    start = time.perf_counter()
    env = load_environment(inventory=str(path))
    times["load"] = time.perf_counter() - start
    t = time.perf_counter()
    report = run_checks(env.topology, env.root)
    times["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    analyse(env.topology)
    times["explain"] = time.perf_counter() - t
    t = time.perf_counter()
    render_environment(env, out)
    times["render"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    if report.errors:
        sys.exit(f"generated topology fails its checks: {report.errors[0].message}")
    return times


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs: dict[int, list[dict[str, float]]] = {}
        for hosts in (30, 1000):
            path = root / f"t{hosts}" / "topology.yml"
            path.parent.mkdir()
            path.write_text(yaml.safe_dump(topology(hosts)))
            runs[hosts] = [measure(path, root / f"out{hosts}-{i}") for i in range(3)]
        print("validate + explain + render, median of 3 runs (seconds)")
        print(f"{'hosts':>6} {'load':>7} {'validate':>9} {'explain':>8} {'render':>7} {'total':>7}")
        for hosts, samples in runs.items():
            med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            print(
                f"{hosts:>6} {med['load']:7.3f} {med['validate']:9.3f} {med['explain']:8.3f} "
                f"{med['render']:7.3f} {med['total']:7.3f}"
            )
        big = statistics.median(s["total"] for s in runs[1000])
        base = statistics.median(s["total"] for s in runs[30])
        print(
            f"1000 hosts: {big:.2f} s (target < {TARGET_SECONDS} s), {big / base:.1f}x the 30-host baseline"
        )
        return 0 if big < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
