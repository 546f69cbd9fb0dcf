"""A fake Kubernetes API server on 127.0.0.1 (no real one can run here), shared by the kube tests.

It keeps the objects it is sent (server-side apply, get, delete) and answers Deployment status,
pods, endpoints and the Mattermost ping from the hand-written JSON in tests/data/kube/api.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "data" / "kube" / "api"
NS = "mattermost"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NS}/deployments/mattermost"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


class FakeApi:
    """Keeps applied objects; answers status, pods, endpoints and ping from tests/data/kube/api."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario  # "good", "crash", "filestore-down", "same-node"
        self.objects: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str, dict[str, list[str]], str]] = []
        self.polls = 0
        self.bad_image: str | None = None
        self.url = ""

    def _deployment_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        replicas = obj["spec"]["replicas"]
        image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        self.polls += 1
        rolling = self.polls < 2 or (self.scenario == "crash" and image == self.bad_image)
        text = json.dumps(
            recorded("deployment-status-rolling.json" if rolling else "deployment-status-complete.json")
        )
        text = text.replace('"REPLICAS+1"', str(replicas + 1)).replace('"REPLICAS"', str(replicas))
        status: dict[str, Any] = json.loads(text.replace('"GENERATION"', str(obj["metadata"]["generation"])))
        return status

    def handle(self, method: str, url: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        parsed = urlparse(url)
        path, query = parsed.path, parse_qs(parsed.query)
        self.log.append((method, path, query, content_type))
        if method == "PATCH":
            doc = json.loads(body)
            old = self.objects.get(path)
            meta = doc.setdefault("metadata", {})
            meta["uid"] = old["metadata"]["uid"] if old else f"uid-{len(self.objects)}"
            changed = old is None or old.get("spec") != doc.get("spec")
            meta["generation"] = (old["metadata"]["generation"] if old else 0) + (1 if changed else 0)
            meta["resourceVersion"] = str(len(self.log))
            meta["managedFields"] = [{"manager": query["fieldManager"][0], "operation": "Apply"}]
            self.objects[path] = doc
            if doc.get("kind") == "Deployment":
                self.polls = 0
            return 200, doc
        if method == "DELETE":
            return (
                (200, {"status": "Success"})
                if self.objects.pop(path, None)
                else (404, {"message": "not found"})
            )
        if path.endswith("/pods"):
            name = {"crash": "pods-crashloop.json", "same-node": "pods-same-node.json"}.get(
                self.scenario, "pods-ready.json"
            )
            crashing = self.scenario == "crash" and self.current_image() == self.bad_image
            return 200, recorded(name if self.scenario != "crash" or crashing else "pods-ready.json")
        if "/endpoints/" in path:
            return 200, recorded(f"endpoints-{path.rsplit('/', 1)[1]}.json")
        if "/proxy/api/v4/system/ping" in path:
            if self.scenario == "filestore-down":
                return 500, recorded("ping-filestore-down.json")
            return 200, recorded("ping-ok.json")
        obj = self.objects.get(path)
        if obj is None:
            return 404, {"kind": "Status", "message": f"{path} not found", "code": 404}
        if obj.get("kind") == "Deployment":
            obj = {**obj, "status": self._deployment_status(obj)}
        return 200, obj

    def current_image(self) -> str | None:
        dep = self.objects.get(DEPLOYMENT)
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"]) if dep else None

    def patches(self) -> list[str]:
        return [path for method, path, _, _ in self.log if method == "PATCH"]


@contextmanager
def serve(state: FakeApi) -> Iterator[str]:
    """Run the fake on a free port of 127.0.0.1; yields its URL (also kept in state.url)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = state.handle(
                self.command, self.path, self.rfile.read(length), self.headers.get("Content-Type", "")
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = _answer  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state.url
    finally:
        server.shutdown()
        server.server_close()


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig as kubectl writes it, pointing at `server` with a bearer token."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "deployer", "user": {"token": "fake-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "deployer"}}],
                "current-context": "fake",
            },
            indent=1,
        )
    )
    return path
