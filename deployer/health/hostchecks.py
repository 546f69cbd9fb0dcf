"""Per-host checks over verified SSH: reachable, role units active, disk and memory headroom, clock offset."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import paramiko

from deployer.health.model import Result
from deployer.health.targets import Targets
from deployer.topology.model import Host, Role, Topology

# Headroom limits: warn first, fail when the next burst would stop a service.
DISK_WARN_PERCENT = 80
DISK_FAIL_PERCENT = 90
MEMORY_WARN_PERCENT = 15
MEMORY_FAIL_PERCENT = 5
# Clock offset from the hosts' median: Patroni leases and Mattermost's cluster pings need sync.
CLOCK_WARN_SECONDS = 0.5
CLOCK_FAIL_SECONDS = 2.0
SEAWEEDFS_MASTERS = 3  # the first storage hosts run a master (deployer/render/ansible.py)


class Shell(Protocol):
    """Runs one command on one host: (exit status, stdout, stderr); raises OSError-like on no contact."""

    def run(self, host: Host, command: str, timeout: float) -> tuple[int, str, str]: ...


@dataclass(frozen=True)
class SshShell:
    """paramiko with one known_hosts file and RejectPolicy: an unknown or changed key is refused."""

    user: str
    key_file: Path | None
    known_hosts: Path

    def run(self, host: Host, command: str, timeout: float) -> tuple[int, str, str]:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                str(host.address),
                username=self.user,
                key_filename=str(self.key_file) if self.key_file else None,
                look_for_keys=self.key_file is None,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
            )
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), out, err
        finally:
            client.close()


def is_lab(env: str) -> bool:
    """Whether `deployer lab up` made this environment (its plan is on record)."""
    from deployer.lab.state import PLAN_FILE, env_dir  # noqa: PLC0415 - the lab is optional for real sites

    return (env_dir(env) / PLAN_FILE).is_file()


def shell_for(env: str) -> SshShell:
    """The lab's key pair and known_hosts for a lab environment; else the user's key and known_hosts.

    Either way only keys already in that known_hosts file are accepted.
    """
    if is_lab(env):
        from deployer.lab.ssh import USER, ssh_files  # noqa: PLC0415

        files = ssh_files(env)
        return SshShell(USER, files.private_key, files.known_hosts)
    return SshShell("deployer", None, Path.home() / ".ssh" / "known_hosts")


def units_of(topology: Topology, host: Host) -> dict[str, Role | None]:
    """The systemd units the roles start on a host, each with the role it serves (None: the host's own)."""
    if host.roles == [Role.BASTION]:
        return {}
    units: dict[str, Role | None] = {"chrony": None}
    storage = [h.name for h in topology.with_role(Role.STORAGE)]
    for role in host.roles:
        if role is Role.APP:
            units["mattermost"] = role
        elif role is Role.DATABASE:
            units["patroni"] = role
        elif role is Role.ETCD:
            units["etcd"] = role
        elif role is Role.LOADBALANCER:
            units["haproxy"] = role
            if topology.loadbalancer.vip is not None:
                units["keepalived"] = role
        elif role is Role.STORAGE:
            if host.name in storage[:SEAWEEDFS_MASTERS]:
                units["seaweedfs-master"] = role
            units["seaweedfs-volume"] = role
            units["seaweedfs-filer"] = role
    return units


@dataclass(frozen=True)
class Facts:
    """What one SSH round trip found on a host; `error` when there was no verified contact."""

    host: Host
    error: str = ""
    seconds: float = 0.0
    units: dict[str, str] = field(default_factory=dict)
    disk: dict[str, int] = field(default_factory=dict)  # mount -> percent used
    memory_total_kb: int = 0
    memory_available_kb: int = 0
    clock_offset: float | None = None  # host clock minus ours, at the round trip's middle
    addresses: tuple[str, ...] = ()


def survey_command(units: Sequence[str], addresses: bool) -> str:
    parts = [
        "printf '##units\\n'",
        f"systemctl is-active {' '.join(units)} 2>/dev/null" if units else "true",
        "printf '##df\\n'",
        "df -P -k / /var 2>/dev/null",
        "printf '##mem\\n'",
        "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo",
    ]
    if addresses:
        parts += ["printf '##addr\\n'", "ip -o -4 addr show"]
    parts += ["printf '##clock\\n'", "date +%s.%N"]
    return "; ".join(parts)


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("##"):
            current = line[2:].strip()
            found[current] = []
        elif current and line.strip():
            found[current].append(line.strip())
    return found


def parse_facts(host: Host, units: Sequence[str], out: str, started: float, ended: float) -> Facts:
    """Facts from the survey command's output; the clock line is the last thing printed."""
    sections = _sections(out)
    states = dict(zip(units, sections.get("units", []), strict=False))
    disk: dict[str, int] = {}
    for line in sections.get("df", [])[1:]:
        cells = line.split()
        if len(cells) >= 6 and cells[4].endswith("%"):  # noqa: PLR2004 - df -P columns
            disk[cells[5]] = int(cells[4].rstrip("%"))
    memory = {}
    for line in sections.get("mem", []):
        key, _, value = line.partition(":")
        memory[key] = int(value.split()[0])
    offset = None
    clock = sections.get("clock", [])
    if clock:
        offset = float(clock[-1]) - (started + ended) / 2
    addresses = tuple(
        words[words.index("inet") + 1].split("/")[0]
        for words in (line.split() for line in sections.get("addr", []))
        if "inet" in words[:-1]
    )
    return Facts(
        host,
        seconds=ended - started,
        units={u: states.get(u, "unknown") for u in units},
        disk=disk,
        memory_total_kb=memory.get("MemTotal", 0),
        memory_available_kb=memory.get("MemAvailable", 0),
        clock_offset=offset,
        addresses=addresses,
    )


class Survey:
    """One SSH round trip per host, all at once, shared by every host check of a report run."""

    def __init__(
        self,
        topology: Topology,
        shell: Shell,
        timeout: float = 10.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.topology = topology
        self.shell = shell
        self.timeout = timeout
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._facts: dict[str, Facts] | None = None

    def facts(self) -> dict[str, Facts]:
        with self._lock:
            if self._facts is None:
                self._facts = self._collect()
            return self._facts

    def _collect(self) -> dict[str, Facts]:
        hosts = self.topology.hosts
        if not hosts:
            return {}
        pool = ThreadPoolExecutor(max_workers=min(len(hosts), 64), thread_name_prefix="survey")
        try:
            futures = {h.name: pool.submit(self._one, h) for h in hosts}
            # Connect and command each have the timeout; a host stuck past both is reported, not awaited.
            wait(futures.values(), timeout=self.timeout * 2 + 1)
            found = {}
            for host in hosts:
                future = futures[host.name]
                if future.done():
                    found[host.name] = future.result()
                else:
                    found[host.name] = Facts(host, error=f"no answer within {self.timeout * 2:g}s")
            return found
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, host: Host) -> Facts:
        units = list(units_of(self.topology, host))
        command = survey_command(units, host.has(Role.LOADBALANCER))
        started = self.wall_clock()
        try:
            status, out, err = self.shell.run(host, command, self.timeout)
        except paramiko.BadHostKeyException:
            return Facts(host, error="host key does NOT match known_hosts (refused)")
        except paramiko.SSHException as exc:
            return Facts(host, error=f"SSH refused: {exc}")
        except (OSError, EOFError) as exc:
            return Facts(host, error=f"no SSH: {exc or type(exc).__name__}")
        ended = self.wall_clock()
        if "##clock" not in out:
            return Facts(host, error=f"survey command failed (exit {status}): {err.strip()[:120]}")
        return parse_facts(host, units, out, started, ended)


def _reachable(facts: Facts) -> Result | None:
    if facts.error:
        return Result.skip(facts.host.name, f"unreachable: {facts.error}")
    return None


@dataclass
class _PerHostCheck:
    """A check answered from the shared survey: one result per host, under the survey's timeout."""

    survey: Survey

    @property
    def timeout(self) -> float:
        return self.survey.timeout

    def run(self, targets: Targets) -> list[Result]:
        del targets
        return [self._one(facts) for facts in self.survey.facts().values()]

    def _one(self, facts: Facts) -> Result:
        raise NotImplementedError


@dataclass
class HostReachable(_PerHostCheck):
    """Every host answers over SSH with the host key known_hosts holds."""

    name: ClassVar[str] = "hosts"
    title: ClassVar[str] = "hosts: reachable over verified SSH"

    def _one(self, facts: Facts) -> Result:
        if facts.error:
            return Result.fail(facts.host.name, facts.error, address=str(facts.host.address))
        return Result.ok(facts.host.name, f"SSH verified in {facts.seconds:.2f}s", seconds=facts.seconds)


@dataclass
class HostUnits(_PerHostCheck):
    """The systemd units each host's roles need are active."""

    name: ClassVar[str] = "units"
    title: ClassVar[str] = "hosts: services of their roles active"

    def _one(self, facts: Facts) -> Result:
        skipped = _reachable(facts)
        if skipped:
            return skipped
        roles = units_of(self.survey.topology, facts.host)
        if not roles:
            return Result.skip(facts.host.name, "no services of the deployer here")
        down = {u: s for u, s in facts.units.items() if s != "active"}
        roles_down = sorted({str(roles[u]) for u in down if roles[u] is not None})
        if down:
            text = ", ".join(f"{u} {s}" for u, s in down.items())
            return Result.fail(facts.host.name, text, roles_down=roles_down, units=facts.units)
        return Result.ok(facts.host.name, f"{len(facts.units)} units active", units=facts.units)


@dataclass
class HostHeadroom(_PerHostCheck):
    """Disk and memory leave room: warn at 80 % disk / 15 % memory left, fail at 90 % / 5 %."""

    name: ClassVar[str] = "headroom"
    title: ClassVar[str] = "hosts: disk and memory headroom"

    def _one(self, facts: Facts) -> Result:
        skipped = _reachable(facts)
        if skipped:
            return skipped
        name = facts.host.name
        disk = max(facts.disk.values(), default=0)
        fullest = max(facts.disk, key=lambda m: facts.disk[m], default="/")
        memory = (
            round(100 * facts.memory_available_kb / facts.memory_total_kb) if facts.memory_total_kb else 100
        )
        text = f"disk {disk}% used ({fullest}), memory {memory}% available"
        details = {"disk_used_percent": facts.disk, "memory_available_percent": memory}
        if disk >= DISK_FAIL_PERCENT or memory <= MEMORY_FAIL_PERCENT:
            return Result.fail(name, text, **details)
        if disk >= DISK_WARN_PERCENT or memory <= MEMORY_WARN_PERCENT:
            return Result.warn(name, text, **details)
        return Result.ok(name, text, **details)


@dataclass
class ClockOffset(_PerHostCheck):
    """Host clocks agree: offset from the hosts' median, with the SSH round trip as its uncertainty."""

    name: ClassVar[str] = "clock"
    title: ClassVar[str] = "hosts: clock offset to the others"

    # The offset is judged against the median of all hosts, so this check needs them all at once.
    def run(self, targets: Targets) -> list[Result]:
        del targets
        facts = list(self.survey.facts().values())
        offsets = [f.clock_offset for f in facts if f.clock_offset is not None]
        if not offsets:
            return [Result.skip("clock", "no host answered")]
        median = statistics.median(offsets)
        results = []
        for one in facts:
            skipped = _reachable(one)
            if skipped or one.clock_offset is None:
                results.append(skipped or Result.skip(one.host.name, "no clock reading"))
                continue
            offset = one.clock_offset - median
            text = f"{offset:+.3f}s from the median (±{one.seconds / 2:.3f}s)"
            details = {"offset_seconds": round(offset, 4), "uncertainty_seconds": round(one.seconds / 2, 4)}
            # The reading is only as exact as half the round trip; judge what is certain.
            certain = max(abs(offset) - one.seconds / 2, 0.0)
            if certain > CLOCK_FAIL_SECONDS:
                results.append(Result.fail(one.host.name, text, **details))
            elif certain > CLOCK_WARN_SECONDS:
                results.append(Result.warn(one.host.name, text, **details))
            else:
                results.append(Result.ok(one.host.name, text, **details))
        return results


def host_checks(survey: Survey) -> list[HostReachable | HostUnits | HostHeadroom | ClockOffset]:
    """The per-host checks, in report order, all sharing one survey."""
    return [HostReachable(survey), HostUnits(survey), HostHeadroom(survey), ClockOffset(survey)]
