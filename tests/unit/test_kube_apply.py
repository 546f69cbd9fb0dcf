"""Apply, wait, rollback and health against a fake Kubernetes API on 127.0.0.1 (no real one here)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s

from deployer.kube import render_kubernetes
from deployer.kube.api import KubeApi
from deployer.kube.apply import RolloutFailedError, apply_manifests, load_manifests
from deployer.kube.health import kube_health
from deployer.topology import load_environment
from tests.unit.fake_kube_api import NS, ROOT, FakeApi, recorded, serve


@pytest.fixture
def fake():
    state = FakeApi("good")
    with serve(state) as url:
        state.api = KubeApi(k8s.ApiClient(k8s.Configuration(host=url)), timeout=5)
        yield state


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
    good_image = fake.current_image()
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
    assert fake.current_image() == good_image
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
        json.dumps(recorded("deployment-status-rolling.json"))
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
