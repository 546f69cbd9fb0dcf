"""`deployer lab` without Docker: the advice for a missing engine, usage errors, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.cli.main import main
from deployer.lab.lifecycle import HostStatus, LabStatus
from deployer.lab.report import status_json, status_text

ROOT = Path(__file__).resolve().parents[2]
LABTEST = str(ROOT / "tests" / "data" / "lab")


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str | None) -> None:
    """PATH holds only a stand-in `docker` (or none at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if script is not None:
        docker = bin_dir / "docker"
        docker.write_text(f"#!/bin/sh\n{script}\n")
        docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_docker_missing_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_docker(tmp_path, monkeypatch, None)
    assert main(["lab", "up", "-i", LABTEST]) == 2
    err = capsys.readouterr().err
    assert "docker client is not installed" in err
    assert "apt-get install -y docker.io" in err
    assert "make lab-prereqs" in err
    assert "Traceback" not in err


def test_daemon_down_names_the_start_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_docker(
        tmp_path,
        monkeypatch,
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?' >&2; exit 1",
    )
    assert main(["lab", "down", "-i", LABTEST]) == 2
    err = capsys.readouterr().err
    assert "Docker daemon is not running" in err
    assert "setsid dockerd" in err
    assert "make lab-prereqs" in err


def test_status_of_a_lab_that_is_not_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "-i", LABTEST]) == 2
    err = capsys.readouterr().err
    assert "lab environment 'labtest' is not up" in err
    assert "deployer lab up -e labtest" in err


def test_fault_needs_a_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "fault", "-i", LABTEST, "lt-a"]) == 2
    assert "--partition" in capsys.readouterr().err


def status() -> LabStatus:
    return LabStatus(
        env="labtest",
        network="dpl-labtest",
        subnet="10.213.9.0/24",
        internal=True,
        rehearsal=False,
        known_hosts="/s/known_hosts",
        ssh_config="/s/ssh_config",
        private_key="/s/id_ed25519",
        hosts=[
            HostStatus(
                name="lt-a",
                address="10.213.9.11",
                roles=["loadbalancer", "app"],
                zone="zone-a",
                container="dpl-labtest-lt-a",
                state="running",
            ),
            HostStatus(
                name="lt-b",
                address="10.213.9.12",
                roles=["database"],
                zone="zone-b",
                container="dpl-labtest-lt-b",
                state="partitioned",
            ),
        ],
    )


def test_status_text_is_a_table() -> None:
    text = status_text(status())
    assert text.splitlines() == [
        "lab labtest: network dpl-labtest 10.213.9.0/24 (internal)",
        "HOST  ADDRESS      ROLES             STATE",
        "lt-a  10.213.9.11  loadbalancer,app  running",
        "lt-b  10.213.9.12  database          partitioned",
        "1/2 running; ssh config: /s/ssh_config",
    ]


def test_status_json_round_trips() -> None:
    data = json.loads(status_json(status()))
    assert data["internal"] is True
    assert [h["state"] for h in data["hosts"]] == ["running", "partitioned"]
