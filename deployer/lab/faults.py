"""Inject a fault into one lab host (kill, stop, pause, partition) and undo it."""

from __future__ import annotations

from enum import StrEnum

from deployer.lab import docker as dk
from deployer.lab import hosts as lab_hosts
from deployer.lab.errors import LabError
from deployer.lab.ssh import ssh_files, write_known_hosts
from deployer.lab.state import load_plan


class Fault(StrEnum):
    KILL = "kill"  # the whole host dies at once, like a power cut
    STOP = "stop"  # clean shutdown: systemd stops every service
    PAUSE = "pause"  # frozen: the host holds its address but answers nothing
    PARTITION = "partition"  # cut off the lab network; it keeps running


def inject(env: str, host: str, kind: Fault | str) -> str:
    """Apply one fault to one host of a running lab; returns what was done."""
    fault = Fault(kind)
    plan = load_plan(env)
    target = plan.host(host)
    state = lab_hosts.container_state(plan, target)
    if not state.exists:
        raise LabError(f"{target.container} does not exist", hint=f"run `deployer lab up -e {env}`")
    if fault is Fault.PARTITION:
        if not state.connected:
            return f"{host} is already partitioned"
        dk.docker("network", "disconnect", plan.network, target.container)
        return f"{host} cut off {plan.network}"
    if state.status != "running":
        raise LabError(
            f"cannot {fault} {host}: it is {state.state}",
            hint=f"undo the fault first: `deployer lab fault -e {env} {host} --heal`",
        )
    dk.docker(str(fault), target.container, timeout=60)
    return f"{host} {_PAST[fault]}"


def heal(env: str, host: str, wait: bool = True) -> list[str]:
    """Undo whatever fault is applied and, with `wait`, return once SSH is verified again."""
    plan = load_plan(env)
    target = plan.host(host)
    before = lab_hosts.container_state(plan, target)
    if not before.exists:
        raise LabError(f"{target.container} does not exist", hint=f"run `deployer lab up -e {env}`")
    done = [
        part.strip()
        for part in lab_hosts.ensure_running(plan, target, before.image).split(",")
        if part.strip() != "unchanged"
    ]
    if wait:
        public_key = ssh_files(env).public_key.read_text(encoding="utf-8")
        line = lab_hosts.prepare(target, public_key)
        _replace_known_host(env, target.name, line)
        lab_hosts.verify_ssh(plan, target)
    return done


def _replace_known_host(env: str, host: str, line: str) -> None:
    """The key survives a restart, but write it again in case the file was edited meanwhile."""
    path = ssh_files(env).known_hosts
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    # Replaced in place: the file keeps the topology's order, so a heal leaves it unchanged.
    matches = [i for i, entry in enumerate(lines) if host in entry.split()[0].split(",")]
    if matches:
        lines[matches[0]] = line
    else:
        lines.append(line)
    write_known_hosts(env, lines)


_PAST = {Fault.KILL: "killed", Fault.STOP: "stopped", Fault.PAUSE: "paused"}
