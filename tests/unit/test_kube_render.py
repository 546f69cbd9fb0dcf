"""Rendering k8s-prod through Helm's engine: golden files, determinism, schema and policy checks."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from deployer.checks.findings import Severity
from deployer.errors import ExitCode
from deployer.kube import check_kubernetes, check_manifests, render_kubernetes
from deployer.kube.findings import KubernetesSetupError, ManifestCheckError, raise_for_errors
from deployer.kube.images import ImageRef
from deployer.kube.manifest import Manifest
from deployer.kube.policy import check_policies
from deployer.kube.render import render_manifests
from deployer.kube.schema import validate_manifests
from deployer.topology import load_environment

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "kube" / "k8s-prod"
REGISTRY = "registry.example.internal:5000"


@pytest.fixture(scope="module")
def env():
    return load_environment(inventory=str(ROOT / "inventories" / "k8s-prod"))


@pytest.fixture(scope="module")
def manifests(env) -> list[Manifest]:
    return render_manifests(env)


def _by_kind(manifests: list[Manifest], kind: str) -> Manifest:
    return next(m for m in manifests if m.kind == kind)


def test_rendered_manifests_match_golden_files(env, tmp_path):
    """Set DEPLOYER_REGEN_GOLDEN=1 to rewrite tests/golden/kube/k8s-prod after a deliberate change."""
    written = render_kubernetes(env, tmp_path)
    if os.environ.get("DEPLOYER_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN.glob("*.yaml"):
            old.unlink()
        for path in written:
            (GOLDEN / path.name).write_bytes(path.read_bytes())
    expected = sorted(p.name for p in GOLDEN.glob("*.yaml"))
    assert sorted(p.name for p in written) == expected
    for path in written:
        assert path.read_bytes() == (GOLDEN / path.name).read_bytes(), f"{path.name} differs from golden"


def test_render_is_byte_identical_across_runs_and_removes_stale_files(env, tmp_path):
    first = {p.name: p.read_bytes() for p in render_kubernetes(env, tmp_path / "a")}
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deployment-gone.yaml").write_text("stale\n")
    second = {p.name: p.read_bytes() for p in render_kubernetes(env, tmp_path / "b")}
    assert first == second
    assert not (tmp_path / "b" / "deployment-gone.yaml").exists()


def test_one_file_per_resource_with_the_expected_set(manifests):
    assert [m.file for m in manifests] == [
        "configmap-mattermost-env.yaml",
        "deployment-mattermost.yaml",
        "ingress-mattermost.yaml",
        "networkpolicy-mattermost-gossip.yaml",
        "networkpolicy-mattermost-http.yaml",
        "networkpolicy-mattermost-metrics.yaml",
        "poddisruptionbudget-mattermost.yaml",
        "service-mattermost-gossip.yaml",
        "service-mattermost.yaml",
        "serviceaccount-mattermost.yaml",
        "servicemonitor-mattermost.yaml",
    ]


def test_k8s_prod_passes_schema_and_policies(env):
    findings = check_kubernetes(env)
    assert [f for f in findings if f.severity is Severity.ERROR] == []
    # The only warning: the ServiceMonitor CRD has no offline schema.
    assert [f.rule for f in findings] == ["kube.schema-custom-resource"]


def test_every_image_is_relocated_keeping_its_digest(env, manifests):
    pinned = ImageRef.parse(env.topology.kubernetes.mattermost_image)
    image = _by_kind(manifests, "Deployment").doc["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{REGISTRY}/{pinned.repository}:{pinned.tag}@{pinned.digest}"


def test_secrets_are_referenced_never_inlined(manifests):
    assert not [m for m in manifests if m.kind == "Secret"]
    env_vars = _by_kind(manifests, "Deployment").doc["spec"]["template"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env_vars}
    assert by_name["MM_SQLSETTINGS_DATASOURCE"]["valueFrom"]["secretKeyRef"]["name"] == "mattermost-database"
    assert "valueFrom" in by_name["MM_SQLSETTINGS_DATASOURCEREPLICAS"]
    config = _by_kind(manifests, "ConfigMap").doc["data"]
    assert config["MM_CLUSTERSETTINGS_CLUSTERNAME"] == "mm-k8s-prod"
    assert config["MM_FILESETTINGS_DRIVERNAME"] == "amazons3"


def test_network_policies_open_only_8065_to_ingress_and_8074_to_peers(manifests):
    policies = {m.name: m.doc["spec"]["ingress"] for m in manifests if m.kind == "NetworkPolicy"}
    http = policies["mattermost-http"][0]
    assert http["ports"] == [{"port": 8065, "protocol": "TCP"}]
    assert http["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    gossip = policies["mattermost-gossip"][0]
    assert {p["port"] for p in gossip["ports"]} == {8074}
    assert "podSelector" in gossip["from"][0]


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: d["spec"].__setitem__("replicsa", 3), "Additional properties are not allowed ('replicsa'"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__(
                "containerPort", "8065"
            ),
            "spec.template.spec.containers.0.ports.0.containerPort: '8065' is not of type 'integer'",
        ),
    ],
)
def test_schema_validation_names_file_resource_and_field(manifests, mutate, words):
    bad = copy.deepcopy(_by_kind(manifests, "Deployment"))
    mutate(bad.doc)
    findings = validate_manifests([bad], "1.30")
    assert len(findings) == 1
    text = findings[0].render()
    assert text.startswith("deployment-mattermost.yaml: Deployment/mattermost: [kube.schema] ")
    assert words in text
    assert text.endswith("(Kubernetes 1.30 schema)")


def test_unknown_kubernetes_version_is_a_clear_error(manifests):
    with pytest.raises(KubernetesSetupError, match=r"no offline Kubernetes schemas for version 1\.99"):
        validate_manifests(manifests, "1.99")


def _container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


def _drop_anti_affinity(doc):
    del doc["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]


def _drop_zone_spread(doc):
    doc["spec"]["template"]["spec"]["topologySpreadConstraints"] = []


def _drop_probe(doc):
    del _container(doc)["livenessProbe"]


def _drop_limits(doc):
    del _container(doc)["resources"]["limits"]


def _latest(doc):
    _container(doc)["image"] = f"{REGISTRY}/mattermost/mattermost-enterprise-edition:latest"


def _unpinned(doc):
    _container(doc)["image"] = f"{REGISTRY}/mattermost/mattermost-enterprise-edition:10.5.2"


def _public(doc):
    _container(doc)["image"] = "mattermost/mattermost-enterprise-edition:10.5.2@sha256:" + "a" * 64


def _privileged(doc):
    _container(doc)["securityContext"]["privileged"] = True


def _inline_password(doc):
    _container(doc)["env"].append(
        {"name": "MM_SQLSETTINGS_DATASOURCE", "value": "postgres://mm:hunter2@db:5432/mm"}
    )


@pytest.mark.parametrize(
    ("mutate", "rule", "words"),
    [
        (_drop_anti_affinity, "kube.anti-affinity", "podAntiAffinity"),
        (_drop_zone_spread, "kube.anti-affinity", "topology.kubernetes.io/zone"),
        (_drop_probe, "kube.probes", "livenessProbe"),
        (_drop_limits, "kube.resources", "limits.cpu, limits.memory"),
        (_latest, "kube.image-tag", "'latest'"),
        (_unpinned, "kube.image-digest", "not pinned by digest"),
        (_public, "kube.image-registry", "not in the site registry"),
        (_privileged, "kube.privileged", "is privileged"),
        (_inline_password, "kube.no-inline-secret", "MM_SQLSETTINGS_DATASOURCE carries a literal value"),
    ],
)
def test_each_policy_fails_on_a_bad_manifest(manifests, mutate, rule, words):
    bad = [copy.deepcopy(m) for m in manifests]
    mutate(_by_kind(bad, "Deployment").doc)
    findings = [f for f in check_policies(bad, REGISTRY) if f.rule == rule]
    assert findings, f"{rule} did not fire"
    assert all(
        f.file == "deployment-mattermost.yaml" and f.resource == "Deployment/mattermost" for f in findings
    )
    assert any(words in f.message for f in findings), [f.message for f in findings]
    assert not check_policies(manifests, REGISTRY)


def test_missing_pdb_is_reported(manifests):
    without = [m for m in manifests if m.kind != "PodDisruptionBudget"]
    findings = check_policies(without, REGISTRY)
    assert [f.rule for f in findings] == ["kube.pdb"]


def test_inline_secret_object_is_reported(manifests):
    secret = Manifest(
        "secret-x.yaml",
        "t",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "Yg=="}},
    )
    assert [f.rule for f in check_policies([*manifests, secret], REGISTRY)] == ["kube.no-inline-secret"]


def test_manifest_check_error_lists_each_problem_and_exits_3(manifests, env):
    bad = [copy.deepcopy(m) for m in manifests]
    _privileged(_by_kind(bad, "Deployment").doc)
    with pytest.raises(ManifestCheckError) as caught:
        raise_for_errors(check_manifests(bad, env))
    assert caught.value.exit_code == ExitCode.CHECK_FAILED
    assert (
        "deployment-mattermost.yaml: Deployment/mattermost: [kube.privileged] "
        "container 'mattermost' is privileged" in caught.value.render()
    )
