"""The chart: values.schema.json rejects bad values at render time, Helm's lint passes, options work."""

from __future__ import annotations

import copy
from pathlib import Path

import helm_python as helm
import pytest

from deployer.kube import check_kubernetes
from deployer.kube.findings import KubernetesSetupError
from deployer.kube.render import ChartValuesError, chart_dir, render_manifests, render_values
from deployer.kube.values import chart_values
from deployer.topology import load_environment

ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "inventories" / "k8s-prod" / "topology.yml"


@pytest.fixture(scope="module")
def values():
    return chart_values(load_environment(inventory=str(PROD)))


def _variant(tmp_path: Path, *replacements: tuple[str, str]):
    text = PROD.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "topology.yml").write_text(text)
    return load_environment(inventory=str(tmp_path))


def test_helm_lint_is_clean_for_k8s_prod_values(values):
    report = helm.lint(chart_dir(), values, strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.__setitem__("clusterName", ""), "at '/clusterName': minLength: got 0, want 1"),
        (lambda v: v.__setitem__("replicas", 1), "at '/replicas': minimum: got 1, want 2"),
        (lambda v: v["image"].__setitem__("tag", "latest"), "at '/image/tag'"),
        (lambda v: v["image"].__setitem__("digest", ""), "at '/image/digest'"),
        (lambda v: v["image"].__setitem__("registry", ""), "at '/image/registry'"),
        (
            lambda v: v["ingress"].__setitem__("timeoutSeconds", 60),
            "at '/ingress/timeoutSeconds': minimum: got 60, want 90",
        ),
        (lambda v: v["fileStore"].__setitem__("endpoint", "https://s3/x"), "at '/fileStore/endpoint'"),
        (lambda v: v["database"].__setitem__("mode", "mysql"), "at '/database/mode'"),
        (lambda v: v.__setitem__("replica", 3), "additional properties 'replica' not allowed"),
        (lambda v: v["resources"]["limits"].__setitem__("memory", "lots"), "at '/resources/limits/memory'"),
    ],
)
def test_values_schema_rejects_bad_values_at_render_time(values, change, message):
    bad = copy.deepcopy(values)
    change(bad)
    with pytest.raises(ChartValuesError) as caught:
        render_values(bad, "mattermost")
    assert message in caught.value.message


def test_cloudnativepg_cluster_is_rendered_pinned_and_wired(tmp_path):
    env = _variant(tmp_path, ("database: external", "database: cloudnativepg"))
    manifests = render_manifests(env)
    cluster = next(m for m in manifests if m.kind == "Cluster")
    assert cluster.doc["spec"]["instances"] == 2  # 15,000 users: one writer, one reader
    assert cluster.doc["spec"]["imageName"].startswith(
        "registry.example.internal:5000/cloudnative-pg/postgresql:15@sha256:"
    )
    assert cluster.doc["spec"]["minSyncReplicas"] == 1
    env_vars = {
        e["name"]: e
        for e in next(m for m in manifests if m.kind == "Deployment").doc["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert env_vars["MM_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "mattermost-db-app",
        "key": "password",
    }
    assert "@mattermost-db-ro:5432/" in env_vars["MM_SQLSETTINGS_DATASOURCEREPLICAS"]["value"]
    # The DSN only references the password; the policy accepts it.
    assert not [f for f in check_kubernetes(env) if f.severity == "error"]


def test_without_service_monitor_there_is_no_custom_resource(tmp_path):
    env = _variant(tmp_path, ("service_monitor: true", "service_monitor: false"))
    assert check_kubernetes(env) == []


def test_sizing_follows_the_reference_architecture(tmp_path):
    env = _variant(tmp_path, ("users: 15000", "users: 50000"))
    values = chart_values(env)
    assert values["resources"]["limits"] == {"cpu": "8", "memory": "16Gi"}


def test_missing_image_pin_is_a_clear_error(tmp_path):
    text = PROD.read_text().splitlines()
    text = [line for line in text if "mattermost_image:" not in line]
    (tmp_path / "topology.yml").write_text("\n".join(text) + "\n")
    env = load_environment(inventory=str(tmp_path))
    with pytest.raises(KubernetesSetupError, match=r"kubernetes.mattermost_image is not set"):
        render_manifests(env)


def test_vm_environment_is_refused():
    with pytest.raises(KubernetesSetupError, match="is not a Kubernetes environment"):
        render_manifests(load_environment(inventory=str(ROOT / "inventories" / "prod")))
