"""SSH into lab hosts with verified host keys: key pairs, known_hosts, ssh_config and a paramiko client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deployer.lab.errors import LabError
from deployer.lab.plan import LabPlan
from deployer.lab.state import env_dir, load_plan, write_private

USER = "deployer"


@dataclass(frozen=True)
class SshFiles:
    """The files every SSH client of one lab environment needs (Ansible uses the same)."""

    private_key: Path
    public_key: Path
    known_hosts: Path
    ssh_config: Path


def ssh_files(env: str) -> SshFiles:
    """Paths of the key pair, known_hosts and ssh_config of `env` (they exist after `lab up`)."""
    folder = env_dir(env)
    return SshFiles(
        private_key=folder / "id_ed25519",
        public_key=folder / "id_ed25519.pub",
        known_hosts=folder / "known_hosts",
        ssh_config=folder / "ssh_config",
    )


def ensure_keypair(env: str) -> SshFiles:
    """An ed25519 key pair per environment, made once and kept until the user deletes it."""
    files = ssh_files(env)
    if files.private_key.is_file() and files.public_key.is_file():
        return files
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    write_private(files.private_key, private)
    write_private(files.public_key, f"{public} deployer-lab-{env}\n", 0o644)
    return files


def known_hosts_line(names: list[str], host_key: str) -> str:
    """One known_hosts entry; `host_key` is the host's own .pub line ('ssh-ed25519 AAAA... comment')."""
    parts = host_key.split()
    if len(parts) < 2 or not parts[0].startswith("ssh-"):  # noqa: PLR2004 - type and key
        raise LabError(f"not an SSH public host key: {host_key[:60]!r}")
    return f"{','.join(names)} {parts[0]} {parts[1]}"


def write_known_hosts(env: str, lines: list[str]) -> Path:
    path = ssh_files(env).known_hosts
    write_private(path, "".join(f"{line}\n" for line in lines), 0o644)
    return path


def write_ssh_config(plan: LabPlan) -> Path:
    """An ssh_config so `ssh -F FILE HOST` and tools reading it get verified connections."""
    files = ssh_files(plan.env)
    lines = [f"# Written by `deployer lab up -e {plan.env}`; use: ssh -F {files.ssh_config} HOST", ""]
    for host in plan.hosts:
        lines += [f"Host {host.name}", f"    HostName {host.address}", ""]
    lines += [
        "Host *",
        f"    User {USER}",
        f"    IdentityFile {files.private_key}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {files.known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    UpdateHostKeys no",
        "    PasswordAuthentication no",
        "    ConnectTimeout 10",
        "",
    ]
    write_private(files.ssh_config, "\n".join(lines), 0o644)
    return files.ssh_config


def ssh_argv(env: str, host: str, command: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The system `ssh` command line for one lab host, verifying its key strictly."""
    plan = load_plan(env)
    target = plan.host(host)
    files = ssh_files(env)
    return [
        "ssh",
        "-i",
        str(files.private_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={files.known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "ConnectTimeout=10",
        f"{USER}@{target.address}",
        *command,
    ]


def connect(env: str, host: str, timeout: float = 10) -> paramiko.SSHClient:
    """A paramiko client logged in to `host` as the deploy user; unknown host keys are rejected."""
    plan = load_plan(env)
    return connect_address(env, str(plan.host(host).address), timeout)


def connect_address(env: str, address: str, timeout: float = 10, port: int = 22) -> paramiko.SSHClient:
    files = ssh_files(env)
    client = paramiko.SSHClient()
    # Only this environment's known_hosts, filled through `docker exec`: never the user's own
    # file, and never trust on first use.
    client.load_host_keys(str(files.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            address,
            port=port,
            username=USER,
            key_filename=str(files.private_key),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except Exception:
        client.close()
        raise
    return client


def run(env: str, host: str, command: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run a shell command on a lab host over verified SSH: (exit status, stdout, stderr)."""
    client = connect(env, host)
    try:
        return exec_command(client, command, timeout)
    finally:
        client.close()


def exec_command(client: paramiko.SSHClient, command: str, timeout: float) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err
