"""Webhook notifications against a real HTTP receiver on 127.0.0.1; failures never raise."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployer import notify


class Receiver(ThreadingHTTPServer):
    status = 200
    received: list[tuple[str, dict[str, str], bytes]]


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: Receiver, path: str = "/hooks/abc123secret") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_posts_a_slack_compatible_payload(receiver: Receiver) -> None:
    text = "**deployer health staging: healthy**\n\n| Check | Status |\n|---|---|\n| vip | ok |"
    done = notify.post(url(receiver), text)
    assert done.ok
    assert "abc123secret" not in done.detail  # the webhook's key is never printed
    path, headers, body = receiver.received[0]
    assert path == "/hooks/abc123secret"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"text": text, "username": "deployer"}


def test_an_error_answer_is_reported_not_raised(receiver: Receiver) -> None:
    receiver.status = 500
    done = notify.post(url(receiver), "x")
    assert not done.ok
    assert done.detail.endswith("answered HTTP 500")


def test_an_unreachable_webhook_is_reported_within_the_timeout() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    lines: list[str] = []
    done = notify.notify(f"http://127.0.0.1:{port}/hooks/x", "x", echo=lines.append, timeout=2)
    assert done is not None
    assert not done.ok
    assert lines[0].startswith("warning: notification not sent: webhook http://127.0.0.1:")


def test_only_http_urls_are_used() -> None:
    assert not notify.post("file:///etc/passwd", "x").ok
    assert notify.notify(None, "x") is None


def test_long_texts_are_shortened() -> None:
    body = json.loads(notify.payload("x" * 10000))
    assert len(body["text"]) <= notify.MAX_TEXT
    assert body["text"].endswith("(shortened)")
