"""Health report benchmark: how its time grows with host count, against visiting the hosts one by one."""

from __future__ import annotations

import argparse
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.health import readiness  # noqa: E402
from deployer.health.hostchecks import Survey, host_checks, survey_command, units_of  # noqa: E402
from deployer.health.runner import run_checks  # noqa: E402
from deployer.health.targets import Secrets, Targets  # noqa: E402
from deployer.topology import load_environment  # noqa: E402
from deployer.topology.model import Host, Role, Topology  # noqa: E402

ZONES = ("zone-a", "zone-b", "zone-c")
# Share of hosts per role in a big site: mostly app and storage nodes.
MIX = (Role.APP, Role.APP, Role.STORAGE, Role.STORAGE, Role.DATABASE, Role.LOADBALANCER)


def topology_of(count: int) -> Topology:
    """Staging's settings with `count` hosts over three zones (3 etcd members, 2+ load balancers)."""
    base = load_environment("staging").topology
    hosts = []
    for i in range(count):
        role = Role.ETCD if i < 3 else MIX[i % len(MIX)]  # noqa: PLR2004 - three etcd members
        if i in {3, 4}:
            role = Role.LOADBALANCER
        address = IPv4Address("10.213.0.0") + 10 + i
        hosts.append(Host(name=f"h{i:04d}", address=address, zone=ZONES[i % 3], roles=[role]))
    return base.model_copy(update={"hosts": hosts})


class FakeShell:
    """Every host answers the survey after `latency` seconds, like an SSH round trip on a LAN."""

    def __init__(self, topology: Topology, latency: float) -> None:
        self.topology = topology
        self.latency = latency

    def run(self, host: Host, command: str, timeout: float) -> tuple[int, str, str]:
        del command, timeout
        time.sleep(self.latency)
        units = "\n".join("active" for _ in units_of(self.topology, host))
        out = (
            f"##units\n{units}\n##df\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
            "/dev/sda1 100 40 60 40% /\n##mem\nMemTotal: 16000000 kB\nMemAvailable: 9000000 kB\n"
            f"##clock\n{time.time():.6f}\n"
        )
        return 0, out, ""


def one_run(count: int, latency: float) -> tuple[float, float, int]:
    topology = topology_of(count)
    targets = Targets(topology.name, [], None, "", None, [], 0, None, None, "mattermost", Secrets())
    survey = Survey(topology, FakeShell(topology, latency), timeout=5)
    started = time.perf_counter()
    report = run_checks(targets, host_checks(survey))
    checked = time.perf_counter() - started
    started = time.perf_counter()
    done = readiness.with_readiness(report, topology)
    judged = time.perf_counter() - started
    assert not done.failing, [c.name for c in done.failing]  # noqa: S101 - a bench that silently fails is worse
    return checked, judged, len(done.checks[-1].results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.05, help="Seconds per SSH round trip (fake).")
    parser.add_argument("--sizes", default="11,50,100,200,400,1000")
    args = parser.parse_args()
    survey_command(["chrony"], addresses=False)  # import and warm up everything once
    print(f"health report vs host count (fake SSH round trip {args.latency * 1000:.0f} ms per host)")
    columns = ("hosts", 6), ("checks s", 9), ("readiness s", 12), ("total s", 8), ("one-by-one s", 13)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'verdicts':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        checked, judged, verdicts = one_run(size, args.latency)
        # The baseline, measured in the same run: the same round trips one after another.
        serial = size * args.latency
        total = checked + judged
        print(f"{size:>6} {checked:>9.2f} {judged:>12.2f} {total:>8.2f} {serial:>13.2f} {verdicts:>9}")


if __name__ == "__main__":
    main()
