"""Lab SSH files and host-key verification, against a throwaway SSH server on loopback only."""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import paramiko
import pytest

from deployer.lab.errors import LabError, LabNotUpError
from deployer.lab.plan import LabHost, LabPlan
from deployer.lab.ssh import (
    connect_address,
    ensure_keypair,
    known_hosts_line,
    ssh_argv,
    ssh_files,
    write_known_hosts,
    write_ssh_config,
)
from deployer.lab.state import save_plan
from deployer.topology import Role


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path))
    return tmp_path


def plan() -> LabPlan:
    return LabPlan(
        env="unit",
        subnet=IPv4Network("10.213.9.0/24"),
        hosts=[
            LabHost(
                name="u1",
                address=IPv4Address("10.213.9.11"),
                zone="a",
                roles=[Role.APP],
                container="dpl-unit-u1",
            )
        ],
    )


def test_keypair_is_private_stable_and_loadable(state: Path) -> None:
    files = ensure_keypair("unit")
    assert files.private_key.parent == state / "lab" / "unit"
    assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600
    key = paramiko.Ed25519Key.from_private_key_file(str(files.private_key))
    assert files.public_key.read_text().split()[1] == key.get_base64()
    before = files.private_key.read_text()
    ensure_keypair("unit")
    assert files.private_key.read_text() == before


def test_known_hosts_line_takes_type_and_key_only() -> None:
    line = known_hosts_line(["10.213.9.11", "u1"], "ssh-ed25519 AAAAC3Nza root@u1\n")
    assert line == "10.213.9.11,u1 ssh-ed25519 AAAAC3Nza"
    with pytest.raises(LabError):
        known_hosts_line(["u1"], "Error: No such container")


def test_ssh_config_verifies_strictly() -> None:
    path = write_ssh_config(plan())
    text = path.read_text()
    files = ssh_files("unit")
    assert "Host u1\n    HostName 10.213.9.11" in text
    assert "StrictHostKeyChecking yes" in text
    assert f"UserKnownHostsFile {files.known_hosts}" in text
    assert "GlobalKnownHostsFile /dev/null" in text
    assert "StrictHostKeyChecking no" not in text


def test_ssh_argv_verifies_strictly() -> None:
    save_plan(plan())
    argv = ssh_argv("unit", "u1", ("uname", "-a"))
    files = ssh_files("unit")
    assert argv[0] == "ssh"
    assert "StrictHostKeyChecking=yes" in argv
    assert f"UserKnownHostsFile={files.known_hosts}" in argv
    assert argv[-3:] == ["deployer@10.213.9.11", "uname", "-a"]


def test_ssh_to_unknown_host_or_env_is_a_clear_error() -> None:
    with pytest.raises(LabNotUpError, match="not up"):
        ssh_argv("unit", "u1")
    save_plan(plan())
    with pytest.raises(LabNotUpError, match="no host 'u9'") as caught:
        ssh_argv("unit", "u9")
    assert "u1" in caught.value.hint


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, paramiko.Ed25519Key]]:
    """An SSH server on 127.0.0.1 that only shows its host key; enough to test verification."""
    host_key = paramiko.Ed25519Key.from_private_key_file(str(_fresh_key()))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(host_key)
            # The client hangs up once it has judged the host key; that ends the handshake.
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                transport.start_server(server=paramiko.ServerInterface())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], host_key
    stop.set()
    listener.close()


def _fresh_key() -> Path:
    """An ed25519 key written by the lab's own generator, in a throwaway environment."""
    return ensure_keypair("server-key").private_key


def test_unknown_host_key_is_rejected(loopback_server: tuple[int, paramiko.Ed25519Key]) -> None:
    port, _ = loopback_server
    ensure_keypair("unit")
    write_known_hosts("unit", [])
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        connect_address("unit", "127.0.0.1", timeout=5, port=port)


def test_changed_host_key_is_rejected(loopback_server: tuple[int, paramiko.Ed25519Key]) -> None:
    port, _ = loopback_server
    ensure_keypair("unit")
    other = ssh_files("unit").public_key.read_text()  # a valid key, but not the server's
    write_known_hosts("unit", [known_hosts_line([f"[127.0.0.1]:{port}"], other)])
    with pytest.raises(paramiko.BadHostKeyException):
        connect_address("unit", "127.0.0.1", timeout=5, port=port)


def test_recorded_host_key_gets_past_verification(
    loopback_server: tuple[int, paramiko.Ed25519Key],
) -> None:
    port, host_key = loopback_server
    ensure_keypair("unit")
    line = f"ssh-ed25519 {host_key.get_base64()}"
    write_known_hosts("unit", [known_hosts_line([f"[127.0.0.1]:{port}"], line)])
    # The host key is accepted; the stub server then refuses the login itself.
    with pytest.raises(paramiko.AuthenticationException):
        connect_address("unit", "127.0.0.1", timeout=5, port=port)
