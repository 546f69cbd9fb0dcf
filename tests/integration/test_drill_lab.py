"""Every drill on a deployed lab: runs only when `deployer deploy` exists and the staging lab answers."""

from __future__ import annotations

import importlib.util
import json
import socket
import time

import pytest

from deployer.cli.main import COMMANDS, main

pytestmark = [pytest.mark.integration, pytest.mark.fullstack]

ENV = "staging"


def deployed_lab(env: str) -> str:
    """Why the lab cannot be drilled, or '' when it can (never aims at anything but the lab's own VIP)."""
    if importlib.util.find_spec("deployer.cli.deploy") is None:
        return "no `deployer deploy` yet"
    from deployer.lab.state import PLAN_FILE, env_dir  # noqa: PLC0415
    from deployer.secrets import vault_file  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    if not (env_dir(env) / PLAN_FILE).is_file():
        return f"the {env} lab is not up (`deployer lab up -e {env}`)"
    environment = load_environment(env)
    if not vault_file(environment).is_file():
        return f"{env} was never deployed (no vault)"
    vip = str(environment.topology.loadbalancer.vip)
    try:
        with socket.create_connection((vip, 443), timeout=2):
            return ""
    except OSError as exc:
        return f"the {env} lab's VIP {vip}:443 does not answer ({exc})"


REASON = deployed_lab(ENV)
needs_lab = pytest.mark.skipif(bool(REASON), reason=REASON)


@pytest.fixture(autouse=True)
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "health", ("deployer.cli.health", "health"))
    monkeypatch.setitem(COMMANDS, "drill", ("deployer.cli.drill", "drill"))


@needs_lab
def test_staging_health_is_green_within_3_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main(["health", "-e", ENV, "--format", "json"])
    spent = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in report["checks"] if c["status"] != "ok"]
    assert spent < 3.0
    assert all(f["survives"] for f in report["failover"])


# scenario -> extra checks on the figures beyond the scenario's own targets (which decide the exit code)
SCENARIOS = {
    "db-primary-loss": {"writes_lost": 0},
    "db-replica-loss": {"writes_lost": 0},
    "etcd-member-loss": {"writes_lost": 0},
    "app-node-loss": {"failed_requests": 0},
    "lb-loss": {"writes_lost": 0},
    "storage-node-loss": {"files_lost": 0},
    "zone-loss": {"writes_lost": 0, "files_lost": 0},
}


@needs_lab
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_drill(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["drill", "-e", ENV, "--scenario", scenario, "--format", "json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    print(f"{scenario}: {json.dumps(result['figures'])}")  # the figures for the README
    for figure, limit in SCENARIOS[scenario].items():
        assert result["figures"][figure] <= limit, figure
    assert result["green_again"]
    assert code == 0, [t for t in result["targets"] if not t["met"]]
