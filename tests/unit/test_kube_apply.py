"""Apply, wait, rollback and health against a fake Kubernetes API on 127.0.0.1 (no real one here)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client as k8s

from deployer.kube import render_kubernetes
from deployer.kube.api import KubeApi
from deployer.kube.apply import RolloutFailedError, apply_manifests, load_manifests
from deployer.kube.health import kube_health
from deployer.topology import load_environment

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "data" / "kube" / "api"
NS = "mattermost"


def _recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


class FakeApi:
    """Keeps applied objects; answers status, pods, endpoints and ping from tests/data/kube/api."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario  # "good", "crash", "filestore-down", "same-node"
        self.objects: dict[str, dict] = {}
        self.log: list[tuple[str, str, dict, str]] = []
        self.polls = 0
        self.bad_image: str | None = None

    def _deployment_status(self, obj: dict) -> dict:
        replicas = obj["spec"]["replicas"]
        image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        self.polls += 1
        rolling = self.polls < 2 or (self.scenario == "crash" and image == self.bad_image)
        text = json.dumps(
            _recorded("deployment-status-rolling.json" if rolling else "deployment-status-complete.json")
        )
        text = text.replace('"REPLICAS+1"', str(replicas + 1)).replace('"REPLICAS"', str(replicas))
        return json.loads(text.replace('"GENERATION"', str(obj["metadata"]["generation"])))

    def handle(self, method: str, url: str, body: bytes, content_type: str) -> tuple[int, dict]:
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
            crashing = self.scenario == "crash" and self._current_image() == self.bad_image
            return 200, _recorded(name if self.scenario != "crash" or crashing else "pods-ready.json")
        if "/endpoints/" in path:
            return 200, _recorded(f"endpoints-{path.rsplit('/', 1)[1]}.json")
        if "/proxy/api/v4/system/ping" in path:
            if self.scenario == "filestore-down":
                return 500, _recorded("ping-filestore-down.json")
            return 200, _recorded("ping-ok.json")
        obj = self.objects.get(path)
        if obj is None:
            return 404, {"kind": "Status", "message": f"{path} not found", "code": 404}
        if obj.get("kind") == "Deployment":
            obj = {**obj, "status": self._deployment_status(obj)}
        return 200, obj

    def _current_image(self) -> str | None:
        dep = self.objects.get(f"/apis/apps/v1/namespaces/{NS}/deployments/mattermost")
        return dep["spec"]["template"]["spec"]["containers"][0]["image"] if dep else None


@pytest.fixture
def fake():
    state = FakeApi("good")

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

        def log_message(self, *args) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = k8s.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    state.api = KubeApi(k8s.ApiClient(config), timeout=5)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def manifests_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("k8s-prod")
    render_kubernetes(load_environment(inventory=str(ROOT / "inventories" / "k8s-prod")), out)
    return out


def _no_sleep(_seconds: float) -> None:
    return None


def test_apply_uses_server_side_apply_in_dependency_order_and_waits(fake, manifests_dir):
    docs = load_manifests(manifests_dir)
    result = apply_manifests(fake.api, docs, timeout=30, sleep=_no_sleep)
    patches = [(path, query, ctype) for method, path, query, ctype in fake.log if method == "PATCH"]
    assert all(ctype == "application/apply-patch+yaml" for _, _, ctype in patches)
    assert all(q["fieldManager"] == ["deployer"] and q["force"] == ["true"] for _, q, _ in patches)
    kinds = [p.split("/")[-2] for p, _, _ in patches]
    assert kinds[0] == "namespaces"
    assert kinds.index("configmaps") < kinds.index("deployments") < kinds.index("ingresses")
    assert len(result.created) == len(docs)
    assert fake.polls >= 2  # it waited through a rolling status before "complete"


def test_failed_rollout_is_rolled_back_to_the_previous_image(fake, manifests_dir):
    docs = load_manifests(manifests_dir)
    apply_manifests(fake.api, docs, timeout=30, sleep=_no_sleep)
    good_image = fake._current_image()
    fake.scenario = "crash"
    upgraded = json.loads(json.dumps(docs))
    deployment = next(d for d in upgraded if d["kind"] == "Deployment")
    bad = good_image.replace("10.5.2@", "10.5.3@")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = bad
    fake.bad_image = bad
    with pytest.raises(RolloutFailedError) as caught:
        apply_manifests(fake.api, upgraded, timeout=30, sleep=_no_sleep)
    assert "CrashLoopBackOff" in caught.value.message
    assert "rolled back" in caught.value.message
    assert fake._current_image() == good_image
    live = fake.objects[f"/apis/apps/v1/namespaces/{NS}/deployments/mattermost"]
    assert "status" not in live or live["status"] is None


def test_first_deploy_failing_deletes_what_it_created(fake, manifests_dir):
    docs = load_manifests(manifests_dir)
    fake.scenario = "crash"
    fake.bad_image = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    with pytest.raises(RolloutFailedError, match="new objects deleted"):
        apply_manifests(fake.api, docs, timeout=30, sleep=_no_sleep)
    assert [p for p in fake.objects if "/namespaces/mattermost/" in p] == []


def test_rollout_times_out_when_it_never_completes(fake, manifests_dir):
    docs = load_manifests(manifests_dir)
    fake.scenario = "crash"
    fake.bad_image = "never-matches"
    fake._deployment_status = lambda obj: json.loads(
        json.dumps(_recorded("deployment-status-rolling.json"))
        .replace('"REPLICAS+1"', "4")
        .replace('"REPLICAS"', "3")
        .replace('"GENERATION"', str(obj["metadata"]["generation"]))
    )
    with pytest.raises(RolloutFailedError, match="timed out after 0 s: 1 of 3 pods updated"):
        apply_manifests(fake.api, docs, timeout=0, sleep=_no_sleep)


def test_health_is_green_on_a_rolled_out_cluster(fake, manifests_dir):
    apply_manifests(fake.api, load_manifests(manifests_dir), timeout=30, sleep=_no_sleep)
    fake.polls = 5
    report = kube_health(fake.api, NS, replicas=3)
    assert report.healthy, report.render()
    assert "ok   ping: status=OK, database_status=OK, filestore_status=OK" in report.render()
    assert "3/3 ready on 3 nodes" in report.render()


@pytest.mark.parametrize(
    ("scenario", "line"),
    [
        ("filestore-down", "FAIL ping: status=UNHEALTHY, database_status=OK, filestore_status=UNHEALTHY"),
        ("same-node", "FAIL spread: two ready pods share a node"),
    ],
)
def test_health_reports_what_is_wrong(fake, manifests_dir, scenario, line):
    apply_manifests(fake.api, load_manifests(manifests_dir), timeout=30, sleep=_no_sleep)
    fake.scenario = scenario
    fake.polls = 5
    report = kube_health(fake.api, NS, replicas=3)
    assert not report.healthy
    assert line in report.render()


def test_health_without_a_deployment(fake):
    report = kube_health(fake.api, NS, replicas=3)
    assert "FAIL deployment: Deployment mattermost not found" in report.render()
