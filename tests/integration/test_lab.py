"""The lab for real: three systemd hosts, verified SSH, no route out, every fault and its heal."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from deployer.cli.main import main
from deployer.lab import faults, lifecycle, ssh
from deployer.lab.plan import LabPlan, env_label, volume_name
from deployer.topology import load_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
LABTEST = ROOT / "tests" / "data" / "lab"
ENV = "labtest"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPlan]:
    """Bring labtest up once for the module; tear it down whatever the tests did."""
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("Docker does not answer; run `make lab-prereqs` first")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPLOYER_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        lifecycle.down(ENV)  # leftovers of an interrupted run must not make this pass
        try:
            result = lifecycle.up(load_environment(inventory=str(LABTEST)))
            yield result.plan
        finally:
            lifecycle.down(ENV)


def test_every_host_runs_systemd_and_answers_verified_ssh(lab: LabPlan) -> None:
    for host in lab.hosts:
        rc, out, _ = ssh.run(ENV, host.name, "hostname; systemctl is-system-running; sudo -n id -u")
        assert rc == 0
        assert out.split() == [host.name, "running", "0"]


def test_hosts_have_their_own_host_keys(lab: LabPlan) -> None:
    lines = ssh.ssh_files(ENV).known_hosts.read_text().splitlines()
    keys = {line.split()[2] for line in lines}
    assert len(lines) == len(keys) == len(lab.hosts)


def test_a_host_key_that_does_not_match_is_refused(lab: LabPlan) -> None:
    known = ssh.ssh_files(ENV).known_hosts
    original = known.read_text()
    impostor = paramiko.Ed25519Key.from_private_key_file(str(ssh.ssh_files(ENV).private_key))
    first = lab.hosts[0]
    lines = [
        f"{line.split()[0]} ssh-ed25519 {impostor.get_base64()}"
        if line.startswith(f"{first.address},")
        else line
        for line in original.splitlines()
    ]
    known.write_text("\n".join(lines) + "\n")
    try:
        with pytest.raises(paramiko.BadHostKeyException):
            ssh.connect(ENV, first.name)
    finally:
        known.write_text(original)


def test_no_route_out(lab: LabPlan) -> None:
    network = json.loads(docker("network", "inspect", lab.network))[0]
    assert network["Internal"] is True
    for host in lab.hosts:
        rc, out, _ = ssh.run(ENV, host.name, "ip -4 route; ip -6 route")
        assert rc == 0
        assert "default" not in out
        assert f"{lab.subnet} dev" in out


def test_hosts_reach_each_other_by_name(lab: LabPlan) -> None:
    source, target = lab.hosts[0], lab.hosts[1]
    probe = (
        f"import socket; s = socket.create_connection(({target.name!r}, 22), 5); print(s.recv(7).decode())"
    )
    rc, out, err = ssh.run(ENV, source.name, f'python3 -c "{probe}"')
    assert rc == 0, err
    assert out.strip() == "SSH-2.0"


def test_lab_ssh_runs_a_command_with_strict_checking(lab: LabPlan) -> None:
    env = {**os.environ, "DEPLOYER_STATE_DIR": os.environ["DEPLOYER_STATE_DIR"]}
    deployer = Path(sys.executable).parent / "deployer"
    result = subprocess.run(
        [str(deployer), "lab", "ssh", "-i", str(LABTEST), lab.hosts[2].name, "--", "hostname"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == lab.hosts[2].name


def test_status_json(lab: LabPlan, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "-i", str(LABTEST), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["internal"] is True
    assert data["subnet"] == "10.213.9.0/24"
    assert {h["name"]: h["state"] for h in data["hosts"]} == {h.name: "running" for h in lab.hosts}


def _ssh_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1.5) as sock:
            sock.settimeout(1.5)
            return sock.recv(7) == b"SSH-2.0"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("kind", "state"),
    [("kill", "stopped"), ("stop", "stopped"), ("pause", "paused"), ("partition", "partitioned")],
)
def test_fault_and_heal(lab: LabPlan, kind: str, state: str) -> None:
    host = lab.hosts[2]
    faults.inject(ENV, host.name, kind)
    try:
        states = {h.name: h.state for h in lifecycle.status(ENV).hosts}
        assert states[host.name] == state
        assert all(s == "running" for name, s in states.items() if name != host.name)
        assert not _ssh_answers(str(host.address))
    finally:
        done = faults.heal(ENV, host.name)
    assert done
    rc, out, _ = ssh.run(ENV, host.name, "hostname; ip -4 route")
    assert rc == 0
    assert out.splitlines()[0] == host.name
    assert "default" not in out


def test_heal_of_a_healthy_host_changes_nothing(lab: LabPlan) -> None:
    assert faults.heal(ENV, lab.hosts[0].name) == []


@pytest.mark.usefixtures("lab")
def test_second_up_changes_nothing() -> None:
    keys = ssh.ssh_files(ENV).known_hosts.read_text()
    started = time.monotonic()
    result = lifecycle.up(load_environment(inventory=str(LABTEST)))
    assert set(result.actions.values()) == {"unchanged"}
    assert ssh.ssh_files(ENV).known_hosts.read_text() == keys
    assert time.monotonic() - started < 30


@pytest.mark.usefixtures("lab")
def test_down_removes_this_environment_and_nothing_else() -> None:
    decoy = volume_name("someone-else", "x")
    docker("volume", "create", "--label", env_label("someone-else"), decoy)
    try:
        removed = lifecycle.down(ENV)
        assert removed == {"containers": 3, "volumes": 3, "networks": 1}
        label = f"label={env_label(ENV)}"
        assert docker("ps", "-a", "-q", "--filter", label).strip() == ""
        assert docker("volume", "ls", "-q", "--filter", label).strip() == ""
        assert docker("network", "ls", "-q", "--filter", label).strip() == ""
        assert decoy in docker("volume", "ls", "-q")
    finally:
        docker("volume", "rm", decoy)
