"""`deployer health --format/-o/--notify` and `deployer drill`'s refusal, on the fixed report (no network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deployer.cli.main import COMMANDS, main
from deployer.health import readiness
from deployer.health.model import HealthReport
from tests.unit.test_health_report import fixed_report


class Hook(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        Hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/k3y"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> HealthReport:
    report, _ = fixed_report()
    monkeypatch.setattr(readiness, "full_report", lambda *_args, **_kwargs: report)
    monkeypatch.setitem(COMMANDS, "health", ("deployer.cli.health", "health"))
    monkeypatch.setitem(COMMANDS, "drill", ("deployer.cli.drill", "drill"))
    return report


def test_html_to_a_file_with_a_notification(
    fixed: HealthReport, hook: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del fixed
    out = tmp_path / "health.html"
    code = main(["health", "-e", "staging", "--format", "html", "-o", str(out), "--notify", hook])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out.startswith("FAILING: 5 ok, 3 warn, 2 fail")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    text = json.loads(Hook.bodies[0])["text"]
    assert text.startswith("**deployer health staging: FAILING")
    assert "notified http://127.0.0.1:" in captured.err


def test_a_failed_notification_never_changes_the_exit_code(
    fixed: HealthReport, capsys: pytest.CaptureFixture[str]
) -> None:
    del fixed
    code = main(["health", "-e", "staging", "--format", "junit", "--notify", "http://127.0.0.1:9/hooks/x"])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "warning: notification not sent" in captured.err


def test_a_drill_refuses_a_degraded_cluster(fixed: HealthReport, capsys: pytest.CaptureFixture[str]) -> None:
    del fixed
    code = main(["drill", "-e", "staging", "--scenario", "db-primary-loss"])
    captured = capsys.readouterr()
    assert code == 3
    assert "error: the cluster is fail before the drill (hosts, headroom, replication" in captured.err
    assert "--force" in captured.err
