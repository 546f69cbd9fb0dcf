"""Running commands and copying files on the hosts over SSH that verifies every host key."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from deployer.errors import DeployerError

USER = "deployer"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class Shell(Protocol):
    """What the plan's steps need from the hosts; a fake in the unit tests, SSH for real."""

    def run(self, host: str, command: str, timeout: float) -> Outcome: ...

    def upload(self, host: str, source: Path, destination: str) -> None: ...


class SshError(DeployerError):
    """A host could not be reached or refused the connection (including an unknown host key)."""


class SshShell:
    """One verified paramiko connection per host, opened on first use and again after a loss."""

    def __init__(
        self, addresses: dict[str, str], known_hosts: Path, private_key: Path | None, user: str = USER
    ) -> None:
        self._addresses = addresses
        self._known_hosts = known_hosts
        self._private_key = private_key
        self._user = user
        self._clients: dict[str, paramiko.SSHClient] = {}

    def _client(self, host: str) -> paramiko.SSHClient:
        client = self._clients.get(host)
        transport = client.get_transport() if client else None
        if client is not None and transport is not None and transport.is_active():
            return client
        address = self._addresses.get(host)
        if address is None:
            raise SshError(f"{host} is not a host of this environment")
        client = paramiko.SSHClient()
        # Only the given known_hosts, never trust on first use: an unknown key is an error.
        client.load_host_keys(str(self._known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                address,
                username=self._user,
                key_filename=str(self._private_key) if self._private_key else None,
                look_for_keys=self._private_key is None,
                allow_agent=self._private_key is None,
                timeout=10,
                banner_timeout=10,
                auth_timeout=10,
            )
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            raise SshError(
                f"cannot log in to {host} ({address}) over SSH: {exc}",
                hint=f"check that the host is up and its key is in {self._known_hosts}",
            ) from exc
        self._clients[host] = client
        return client

    def run(self, host: str, command: str, timeout: float) -> Outcome:
        client = self._client(host)
        try:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            return Outcome(stdout.channel.recv_exit_status(), out, err)
        except (paramiko.SSHException, OSError, TimeoutError) as exc:
            self._drop(host)
            return Outcome(255, "", f"ssh: {exc or type(exc).__name__}")

    def upload(self, host: str, source: Path, destination: str) -> None:
        partial = posixpath.join(
            posixpath.dirname(destination), f".{posixpath.basename(destination)}.partial"
        )
        try:
            with self._client(host).open_sftp() as sftp:
                sftp.put(str(source), partial)
                sftp.posix_rename(partial, destination)
        except (paramiko.SSHException, OSError) as exc:
            self._drop(host)
            raise SshError(f"cannot copy {source.name} to {host}:{destination}: {exc}") from exc

    def _drop(self, host: str) -> None:
        client = self._clients.pop(host, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        for host in list(self._clients):
            self._drop(host)
