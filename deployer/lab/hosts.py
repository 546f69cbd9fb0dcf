"""One lab host's container: create it, start it, and wait until systemd runs and SSH is verified."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from deployer.lab import docker as dk
from deployer.lab.errors import HostNotReadyError, LabClashError
from deployer.lab.plan import LABEL_ENV, LABEL_HOST, LabHost, LabPlan, volume_name
from deployer.lab.ssh import USER, connect_address, exec_command, known_hosts_line

# Per LAB.md: --privileged fails on this kind of machine, these capabilities are enough for
# systemd as PID 1; NET_ADMIN also lets keepalived move a VIP.
RUN_FLAGS = (
    "--cap-add",
    "SYS_ADMIN",
    "--cap-add",
    "NET_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "--cgroupns=host",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    # systemd shuts down cleanly on SIGRTMIN+3; docker's default SIGTERM would only re-exec it.
    "--stop-signal",
    "SIGRTMIN+3",
    "--stop-timeout",
    "20",
)
DATA_DIR = "/data"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class ContainerState:
    """What docker says about one host's container."""

    exists: bool
    status: str = "missing"  # running, paused, exited, created, ...
    connected: bool = False
    address: str = ""
    image: str = ""
    env: str = ""

    @property
    def state(self) -> str:
        """The state a user sees: running, paused, stopped, partitioned or missing."""
        if not self.exists:
            return "missing"
        if self.status == "running" and not self.connected:
            return "partitioned"
        if self.status in {"exited", "created", "dead"}:
            return "stopped" if self.connected else "stopped+partitioned"
        return self.status


def container_state(plan: LabPlan, host: LabHost) -> ContainerState:
    found = dk.inspect("container", host.container)
    return state_from_inspect(plan, found[0]) if found else ContainerState(exists=False)


def state_from_inspect(plan: LabPlan, data: dict[str, Any]) -> ContainerState:
    network = (data.get("NetworkSettings", {}).get("Networks") or {}).get(plan.network)
    address = ""
    if network:
        address = network.get("IPAddress") or (network.get("IPAMConfig") or {}).get("IPv4Address", "")
    labels = data.get("Config", {}).get("Labels") or {}
    return ContainerState(
        exists=True,
        status=data.get("State", {}).get("Status", "unknown"),
        connected=network is not None,
        address=address,
        image=data.get("Config", {}).get("Image", ""),
        env=labels.get(LABEL_ENV, ""),
    )


def ensure_running(plan: LabPlan, host: LabHost, image: str) -> str:
    """Bring one host's container to running and connected; returns what had to be done."""
    state = container_state(plan, host)
    if not state.exists:
        create(plan, host, image)
        return "created"
    if state.env != plan.env:
        raise LabClashError(
            f"container name {host.container} is taken by a container the lab did not make "
            f"for '{plan.env}' (image {state.image or 'unknown'})",
            hint=f"remove or rename that container (`docker rm -f {host.container}`)",
        )
    if state.connected and state.address and state.address != str(host.address):
        raise LabClashError(
            f"{host.container} runs at {state.address}, but the topology now says {host.address}",
            hint=f"recreate the lab: `deployer lab down -e {plan.env}` then `lab up`",
        )
    done: list[str] = []
    if state.status == "paused":
        dk.docker("unpause", host.container)
        done.append("unpaused")
    if not state.connected:
        connect_network(plan, host)
        done.append("reconnected")
    if state.status in {"exited", "created", "dead"}:
        dk.docker("start", host.container)
        done.append("started")
    if state.image != image:
        done.append(f"note: runs older image {state.image}; `lab down` + `lab up` to rebuild")
    return ", ".join(done) or "unchanged"


def create(plan: LabPlan, host: LabHost, image: str) -> None:
    labels = ("--label", f"{LABEL_ENV}={plan.env}", "--label", f"{LABEL_HOST}={host.name}")
    volume = volume_name(plan.env, host.name)
    dk.docker("volume", "create", *labels, volume)
    dk.docker(
        "run",
        "--detach",
        "--name",
        host.container,
        "--hostname",
        host.name,
        "--network",
        plan.network,
        "--ip",
        str(host.address),
        "--network-alias",
        host.name,
        *labels,
        "-v",
        f"{volume}:{DATA_DIR}",
        *RUN_FLAGS,
        image,
    )


def connect_network(plan: LabPlan, host: LabHost) -> None:
    """Join the lab network again at the host's own address (a healed partition keeps its IP)."""
    dk.docker(
        "network",
        "connect",
        "--ip",
        str(host.address),
        "--alias",
        host.name,
        plan.network,
        host.container,
    )


def prepare(host: LabHost, public_key: str, timeout: float = READY_TIMEOUT) -> str:
    """Wait for systemd and sshd, install the deploy key, drop the default route.

    Returns the host's known_hosts line, read through `docker exec`: a channel that does not
    depend on the network, so the key recorded is the host's own.
    """
    deadline = time.monotonic() + timeout
    _wait_systemd(host, deadline)
    key_dir = f"/home/{USER}/.ssh"
    dk.docker(
        "exec",
        "-i",
        host.container,
        "sh",
        "-c",
        f"install -d -m 700 -o {USER} -g {USER} {key_dir} && "
        f"cat >{key_dir}/authorized_keys && "
        f"chown {USER}:{USER} {key_dir}/authorized_keys && chmod 600 {key_dir}/authorized_keys",
        input_text=public_key,
    )
    # Docker re-adds the default route whenever a container (re)joins a network.
    dk.docker("exec", host.container, "ip", "-4", "route", "flush", "exact", "0.0.0.0/0")
    _wait(
        lambda: _exec_ok(host, "systemctl", "is-active", "--quiet", "ssh"),
        deadline,
        f"sshd on {host.name} did not start",
        host,
    )
    host_key = dk.docker("exec", host.container, "cat", HOST_KEY).stdout.strip()
    return known_hosts_line([str(host.address), host.name], host_key)


def verify_ssh(plan: LabPlan, host: LabHost, timeout: float = 30) -> None:
    """Log in over real SSH with host-key verification and check the host says its own name."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            client = connect_address(plan.env, str(host.address), timeout=5)
        except paramiko.BadHostKeyException as exc:
            raise HostNotReadyError(
                f"{host.name} presented a host key that does not match known_hosts: {exc}",
                hint=f"run `deployer lab up -e {plan.env}` to record the hosts' keys again",
            ) from exc
        except (OSError, paramiko.SSHException) as exc:
            last = str(exc)
            time.sleep(0.3)
            continue
        try:
            rc, out, _ = exec_command(client, "hostname", timeout=10)
        finally:
            client.close()
        if rc == 0 and out.strip() == host.name:
            return
        last = f"`hostname` answered {out.strip()!r} (rc {rc})"
    raise HostNotReadyError(
        f"SSH to {host.name} ({host.address}) did not work: {last}",
        hint=f"inspect it with `docker exec -it {host.container} journalctl -u ssh`",
    )


def _wait_systemd(host: LabHost, deadline: float) -> None:
    state = ""
    while time.monotonic() < deadline:
        result = dk.docker("exec", host.container, "systemctl", "is-system-running", check=False, timeout=30)
        state = result.stdout.strip()
        if state == "running":
            return
        if state == "degraded":
            failed = dk.docker(
                "exec", host.container, "systemctl", "--failed", "--plain", "--no-legend", check=False
            ).stdout.strip()
            raise HostNotReadyError(
                f"systemd on {host.name} is degraded; failed units: {failed or 'unknown'}",
                hint=f"look with `docker exec -it {host.container} journalctl -b`; with many "
                "hosts the cause is often the machine's inotify limit (`make lab-prereqs` "
                "raises it)",
            )
        if "is not running" in result.stderr:
            raise HostNotReadyError(
                f"{host.container} stopped while booting",
                hint=f"see `docker logs {host.container}`",
            )
        time.sleep(0.25)
    raise HostNotReadyError(
        f"systemd on {host.name} did not reach 'running' (last: {state or 'no answer'})",
        hint=f"look with `docker exec -it {host.container} systemctl list-jobs`",
    )


def _exec_ok(host: LabHost, *argv: str) -> bool:
    return dk.docker("exec", host.container, *argv, check=False).returncode == 0


def _wait(probe: Callable[[], bool], deadline: float, message: str, host: LabHost) -> None:
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    raise HostNotReadyError(message, hint=f"look with `docker exec -it {host.container} journalctl -b`")
