"""Failover benchmark of the deployed data tier: recovery time and lost acknowledged writes per fault.

Run against a lab environment the deployer has deployed (default: staging):
    .venv/bin/python bench/failover.py [-e staging | -i tests/data/datatier] [--skip-defaults]

For each scenario a writer inserts numbered rows through the VIP's write endpoint (or PUTs
objects through the S3 endpoint) every 50 ms; the RTO is the time from the fault to the first
successful write after the longest outage; lost writes are acknowledged ids missing afterwards.
The database leader scenarios run twice in the same run: with the deployer's Patroni timings
and with Patroni's defaults (ttl 30, loop_wait 10, retry_timeout 10) as the baseline.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paramiko  # noqa: E402

from deployer.lab import faults  # noqa: E402
from deployer.lab import ssh as lab_ssh  # noqa: E402
from deployer.secrets import Secrets, load_secrets  # noqa: E402
from deployer.topology import Environment, Role, load_environment  # noqa: E402
from tests.integration.datatier_probes import S3, Writer, http_json, patroni_leader  # noqa: E402

TUNED = {"ttl": 20, "loop_wait": 1, "retry_timeout": 9}
PATRONI_DEFAULTS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
HTTP_OK = 200
OUTAGE_FLOOR = 0.5  # gaps shorter than this are the writer's own pace, not an outage


@dataclass
class Figure:
    scenario: str
    timings: str
    rto: float | None
    lost: int | None
    acknowledged: int
    note: str = ""


@dataclass
class Tier:
    env: Environment
    secrets: Secrets
    vip: str
    db: dict[str, str] = field(default_factory=dict)
    lbs: dict[str, str] = field(default_factory=dict)
    storage: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, env: Environment) -> Tier:
        topo = env.topology
        return cls(
            env=env,
            secrets=load_secrets(env),
            vip=str(topo.loadbalancer.vip),
            db={h.name: str(h.address) for h in topo.with_role(Role.DATABASE)},
            lbs={h.name: str(h.address) for h in topo.with_role(Role.LOADBALANCER)},
            storage={h.name: str(h.address) for h in topo.with_role(Role.STORAGE)},
        )

    def writer(self) -> Writer:
        return Writer(self.vip, 5432, self.secrets.mattermost_db_password)

    def s3(self, host: str | None = None) -> S3:
        return S3(host or self.vip, 8333, self.secrets.s3_access_key, self.secrets.s3_secret_key)


def outage(acks: list[float], fault_at: float) -> float:
    """Fault to the first write after the longest gap in acknowledgements since the fault."""
    before = [t for t in acks if t <= fault_at]
    previous = before[-1] if before else fault_at
    longest, end = 0.0, fault_at
    for moment in (t for t in acks if t > fault_at):
        if moment - previous > longest:
            longest, end = moment - previous, moment
        previous = moment
    return round(end - fault_at, 1) if longest > OUTAGE_FLOOR else 0.0


def wait_recovered(acks: list[float], fault_at: float, steady: float = 5.0, timeout: float = 180) -> bool:
    """True once writes have flowed for `steady` seconds after the outage."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        after = [t for t in acks if t > fault_at]
        if after and after[-1] - outage_end(acks, fault_at) >= steady:
            return True
        time.sleep(0.5)
    return False


def outage_end(acks: list[float], fault_at: float) -> float:
    return fault_at + outage(acks, fault_at)


def patch_patroni(tier: Tier, values: dict[str, int]) -> None:
    leader = patroni_leader(tier.db)
    if leader is None:
        raise RuntimeError("no Patroni leader to configure")
    token = base64.b64encode(f"patroni:{tier.secrets.patroni_restapi_password}".encode()).decode()
    request = urllib.request.Request(
        f"http://{tier.db[leader]}:8008/config",
        data=json.dumps(values).encode(),
        method="PATCH",
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass
    time.sleep(max(values.get("loop_wait", 2), 2) + 2)  # every member reads it on its next loop


def wait_member(tier: Tier, name: str, path: str, timeout: float = 180) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if http_json(f"http://{tier.db[name]}:8008{path}", timeout=1.0)[0] == HTTP_OK:
            return time.monotonic() - started
        time.sleep(1)
    return None


def sync_standby(tier: Tier) -> str | None:
    for address in tier.db.values():
        status, body = http_json(f"http://{address}:8008/cluster")
        if status == HTTP_OK and isinstance(body, dict):
            for member in body.get("members", []):
                if member.get("role") == "sync_standby":
                    return str(member["name"])
            break
    return None


# Journal lines that mark the steps of a failover: etcd's raft electing a leader, Patroni taking
# the leader key and its PostgreSQL leaving recovery.
MILESTONES = {
    "etcd leader elected": "elected leader",
    "leader key taken": "promoted self to leader",
    "promoted": "cleared rewind state after becoming the leader",
}


def milestones(tier: Tier, hosts: list[str], since_wall: float) -> dict[str, float]:
    """Seconds after `since_wall` of each milestone's first journal line on the surviving hosts."""
    found: dict[str, float] = {}
    pattern = "|".join(MILESTONES.values())
    command = (
        f"sudo -n journalctl -u etcd -u patroni -o short-unix --no-pager --since @{int(since_wall)} "
        f"| grep -E '{pattern}' || true"
    )
    for host in hosts:
        try:
            code, out, _ = lab_ssh.run(tier.env.name, host, command, timeout=30)
        except (OSError, paramiko.SSHException):
            continue
        if code != 0:
            continue
        for line in out.splitlines():
            stamp, _, text = line.partition(" ")
            try:
                at = float(stamp) - since_wall
            except ValueError:
                continue
            for label, marker in MILESTONES.items():
                if marker in text and at >= 0 and (label not in found or at < found[label]):
                    found[label] = at
    return found


def timeline_note(found: dict[str, float]) -> str:
    return ", ".join(f"{label} +{at:.1f} s" for label, at in sorted(found.items(), key=lambda kv: kv[1]))


def database_leader(tier: Tier, fault: str, timings: str) -> Figure:
    """Kill or stop the leader's host; writes through the VIP until they succeed again."""
    leader = patroni_leader(tier.db)
    if leader is None:
        raise RuntimeError("no Patroni leader before the fault")
    writer = tier.writer()
    writer.setup()
    writer.start()
    time.sleep(3)
    fault_wall, fault_at = time.time(), time.monotonic()
    faults.inject(tier.env.name, leader, fault)
    recovered = wait_recovered(writer.ack_times, fault_at)
    writer.stop()
    rto = outage(writer.ack_times, fault_at) if recovered else None
    lost = len(writer.lost())
    steps = timeline_note(milestones(tier, [n for n in tier.db if n != leader], fault_wall))
    faults.heal(tier.env.name, leader)
    rejoined = wait_member(tier, leader, "/replica")
    note = (
        f"old leader {leader} back as replica after heal in {rejoined:.0f} s" if rejoined else "NOT rejoined"
    )
    note += f"; {steps}" if steps else ""
    return Figure(f"database leader host {fault}", timings, rto, lost, len(writer.acknowledged), note)


def etcd_member(tier: Tier) -> Figure:
    """Kill an etcd member (a database host that is neither leader nor synchronous standby)."""
    leader, standby = patroni_leader(tier.db), sync_standby(tier)
    victim = next(n for n in tier.db if n not in {leader, standby})
    writer = tier.writer()
    writer.setup()
    writer.start()
    time.sleep(3)
    fault_at = time.monotonic()
    faults.inject(tier.env.name, victim, "kill")
    time.sleep(15)
    writer.stop()
    still = patroni_leader(tier.db)
    lost = len(writer.lost())
    faults.heal(tier.env.name, victim)
    wait_member(tier, victim, "/replica")
    return Figure(
        "etcd member (and replica) host kill",
        "deployer",
        outage(writer.ack_times, fault_at),
        lost,
        len(writer.acknowledged),
        f"killed {victim}; leader {leader} -> {still}",
    )


def vip_holder(tier: Tier) -> str:
    for name in tier.lbs:
        try:
            code, out, _ = lab_ssh.run(tier.env.name, name, f"ip -o -4 addr show to {tier.vip}", timeout=15)
        except (OSError, paramiko.SSHException):
            continue  # the stopped or killed one
        if code == 0 and out.strip():
            return name
    raise RuntimeError("no load balancer holds the VIP")


def vip_gap(vip: str, port: int, stop: threading.Event, out: list[float]) -> None:
    """Connect to the VIP every 100 ms; `out` gets the longest stretch without an answer."""
    longest, last_ok = 0.0, time.monotonic()
    while not stop.is_set():
        try:
            with socket.create_connection((vip, port), timeout=0.5):
                now = time.monotonic()
                longest = max(longest, now - last_ok)
                last_ok = now
        except OSError:
            pass
        time.sleep(0.1)
    out.append(longest)


def loadbalancer(tier: Tier, fault: str) -> Figure:
    holder = vip_holder(tier)
    writer = tier.writer()
    writer.setup()
    writer.start()
    gap: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=vip_gap, args=(tier.vip, 8404, stop, gap), daemon=True)
    prober.start()
    time.sleep(3)
    fault_at = time.monotonic()
    faults.inject(tier.env.name, holder, fault)
    recovered = wait_recovered(writer.ack_times, fault_at)
    writer.stop()
    stop.set()
    prober.join(5)
    rto = outage(writer.ack_times, fault_at) if recovered else None
    lost = len(writer.lost())
    new_holder = vip_holder(tier)
    faults.heal(tier.env.name, holder)
    return Figure(
        f"load balancer holding the VIP ({fault})",
        "keepalived VRRPv3 advert 0.5 s",
        rto,
        lost,
        len(writer.acknowledged),
        f"VIP {holder} -> {new_holder}, VIP unanswered for {gap[0]:.1f} s"
        if gap
        else f"VIP {holder} -> {new_holder}",
    )


def storage_host(tier: Tier) -> Figure:
    """Kill a storage host while PUTting through the S3 endpoint; old objects must stay readable."""
    s3 = tier.s3()
    old = {f"bench/old-{i}": f"old object {i}".encode() for i in range(10)}
    for key, body in old.items():
        if s3.put("mattermost", key, body) != HTTP_OK:
            raise RuntimeError(f"cannot PUT {key} before the fault")
    acks: list[float] = []
    written: dict[str, bytes] = {}
    stop = threading.Event()

    def put_loop() -> None:
        n = 0
        while not stop.is_set():
            key, body = f"bench/new-{n}", f"new {n}".encode()
            try:
                if s3.put("mattermost", key, body) == HTTP_OK:
                    acks.append(time.monotonic())
                    written[key] = body
            except OSError:
                pass
            n += 1
            time.sleep(0.1)

    thread = threading.Thread(target=put_loop, daemon=True)
    thread.start()
    time.sleep(3)
    victim = next(iter(tier.storage))
    fault_at = time.monotonic()
    faults.inject(tier.env.name, victim, "kill")
    recovered = wait_recovered(acks, fault_at)
    unreadable_old = sum(1 for k, b in old.items() if s3.get("mattermost", k) != (HTTP_OK, b))
    stop.set()
    thread.join(10)
    lost = sum(1 for k, b in written.items() if s3.get("mattermost", k) != (HTTP_OK, b))
    faults.heal(tier.env.name, victim)
    restored = wait_replication(tier)
    return Figure(
        "storage host kill (S3 PUT via VIP)",
        f"replication {restored[1]}",
        outage(acks, fault_at) if recovered else None,
        lost,
        len(acks),
        f"killed {victim}; old objects unreadable: {unreadable_old}; "
        + (
            f"replication restored after heal in {restored[0]:.0f} s"
            if restored[0] is not None
            else "NOT restored"
        ),
    )


def volume_copies(tier: Tier) -> dict[int, int]:
    """Volume id -> number of copies, from a master's topology."""
    for address in tier.storage.values():
        status, body = http_json(f"http://{address}:9333/vol/status", timeout=3)
        if status == HTTP_OK and isinstance(body, dict):
            copies: dict[int, int] = {}
            volumes = body.get("Volumes", {})
            for dc in (volumes.get("DataCenters") or {}).values():
                for rack in dc.values():
                    for node_volumes in rack.values():
                        for vol in node_volumes or []:
                            copies[int(vol["Id"])] = copies.get(int(vol["Id"]), 0) + 1
            return copies
    return {}


def wait_replication(tier: Tier, timeout: float = 180) -> tuple[float | None, str]:
    wanted = int(tier.env.topology.storage.replication)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        copies = volume_copies(tier)
        if (
            copies
            and all(n >= wanted for n in copies.values())
            and len(tier.storage) == live_volume_servers(tier)
        ):
            return time.monotonic() - started, f"{wanted} copies of {len(copies)} volumes"
        time.sleep(2)
    return None, f"{wanted} copies wanted"


def live_volume_servers(tier: Tier) -> int:
    for address in tier.storage.values():
        status, body = http_json(f"http://{address}:9333/dir/status", timeout=3)
        if status == HTTP_OK and isinstance(body, dict):
            topo = body.get("Topology", {})
            return sum(
                len(rack.get("DataNodes") or [])
                for dc in topo.get("DataCenters") or []
                for rack in dc.get("Racks") or []
            )
    return 0


class Figures(list[Figure]):
    """Prints each figure as soon as it is measured: a long run shows progress and keeps results."""

    def append(self, figure: Figure) -> None:
        if not self:
            print(render([]), flush=True)
        super().append(figure)
        print(render([figure]).splitlines()[-1], flush=True)


SCENARIOS = ("db", "db-defaults", "lb", "storage", "etcd")


def run(env: Environment, scenarios: tuple[str, ...] = SCENARIOS) -> list[Figure]:
    tier = Tier.load(env)
    figures = Figures()
    patch_patroni(tier, TUNED)
    if "db" in scenarios:
        figures.append(database_leader(tier, "kill", "deployer 20/1/9"))
        figures.append(database_leader(tier, "stop", "deployer 20/1/9"))
    if "db-defaults" in scenarios:
        patch_patroni(tier, PATRONI_DEFAULTS)
        try:
            figures.append(database_leader(tier, "kill", "Patroni defaults 30/10/10"))
            figures.append(database_leader(tier, "stop", "Patroni defaults 30/10/10"))
        finally:
            patch_patroni(tier, TUNED)
    if "lb" in scenarios:
        figures.append(loadbalancer(tier, "stop"))
        figures.append(loadbalancer(tier, "kill"))
    if "storage" in scenarios:
        figures.append(storage_host(tier))
    if "etcd" in scenarios:
        figures.append(etcd_member(tier))
    return figures


def render(figures: list[Figure]) -> str:
    lines = [
        f"{'scenario':<40} {'timings':<28} {'RTO s':>6} {'lost':>5} {'acked':>6}  note",
    ]
    for f in figures:
        rto = "-" if f.rto is None else f"{f.rto:.1f}"
        lost = "-" if f.lost is None else str(f.lost)
        lines.append(f"{f.scenario:<40} {f.timings:<28} {rto:>6} {lost:>5} {f.acknowledged:>6}  {f.note}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-e", "--env", default=None)
    parser.add_argument("-i", "--inventory", default=None)
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"Comma-separated subset of {', '.join(SCENARIOS)}."
    )
    args = parser.parse_args()
    env = load_environment(args.env or (None if args.inventory else "staging"), args.inventory)
    run(env, tuple(args.scenarios.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
