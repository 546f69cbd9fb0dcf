"""The offline bundle of a kubernetes environment: chart and image archives, manifest, SBOM, push input."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from deployer.bundle.content import load_defaults, plan_for
from deployer.bundle.providers import default_providers
from deployer.bundle.unpack import unpack
from deployer.cli.registry import _opened
from deployer.kube.oci import archive_digest
from deployer.kube.registry import load_images_file
from deployer.topology import load_environment
from tests.unit.kube_env import APP, KubeEnv, make_env, offline_providers


@pytest.fixture
def kube_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeEnv:
    monkeypatch.setattr("deployer.bundle.build.default_providers", offline_providers)
    return make_env(tmp_path)


def _build(run_cli, env: KubeEnv, *extra: str):
    return run_cli("bundle", "build", "-i", str(env.folder), "--images-from", str(env.layout), *extra)


def _manifest(run_cli, bundle: Path) -> dict:
    shown = run_cli("bundle", "inspect", str(bundle), "--format", "json")
    assert shown.code == 0, shown.err
    return json.loads(shown.out)["manifest"]


def _member(bundle: Path, name: str) -> bytes:
    with bundle.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
        data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("k8s-prod", ["wheels", "kubernetes"]),
        ("dev", ["apt", "wheels", "seaweedfs", "mattermost"]),
    ],
)
def test_each_platform_gets_its_own_providers(env: str, expected: list[str]) -> None:
    plan = plan_for(load_environment(env), load_defaults())
    assert [p.name for p in default_providers() if p.applies(plan)] == expected


def test_bundle_lists_the_chart_and_every_image_in_manifest_and_sbom(run_cli, kube_env: KubeEnv) -> None:
    built = _build(run_cli, kube_env)
    assert built.code == 0, built.err
    assert run_cli("bundle", "verify", "-i", str(kube_env.folder)).code == 0

    manifest = _manifest(run_cli, kube_env.bundle)
    assert manifest["platform"] == "kubernetes"
    by_kind: dict[str, list[dict]] = {}
    for entry in manifest["files"]:
        by_kind.setdefault(entry["kind"], []).append(entry)
    assert set(by_kind) == {"chart", "image", "other", "sbom"}  # no OS packages, no tarball
    (chart,) = by_kind["chart"]
    assert (chart["path"], chart["name"], chart["version"]) == (
        "kube/charts/mattermost-ha-0.1.0.tgz",
        "mattermost-ha",
        "0.1.0",
    )
    # k8s-prod uses an external database: only the Mattermost image is in the manifests.
    (image,) = by_kind["image"]
    digest = kube_env.digests["10.5.2"]
    assert (image["name"], image["version"]) == (APP, f"10.5.2@{digest}")
    assert image["path"] == "kube/images/mattermost_mattermost-enterprise-edition_10.5.2.oci.tar"
    assert [e["path"] for e in by_kind["other"]] == ["kube/images/images.json"]

    sbom = json.loads(_member(kube_env.bundle, "sbom.cdx.json"))
    components = {c["bom-ref"]: c for c in sbom["components"]}
    assert set(components) == {e["path"] for e in manifest["files"] if e["kind"] != "sbom"}
    app = components[image["path"]]
    assert app["type"] == "container"
    assert app["purl"] == (
        f"pkg:oci/mattermost-enterprise-edition@{digest.replace(':', '%3A')}?repository_url={APP}&tag=10.5.2"
    )
    assert app["hashes"] == [{"alg": "SHA-256", "content": image["sha256"]}]
    assert components[chart["path"]]["purl"] == "pkg:generic/mattermost-ha@0.1.0"


def test_the_bundled_archive_is_the_pinned_image_and_the_chart_packages(
    run_cli, kube_env: KubeEnv, tmp_path: Path
) -> None:
    assert _build(run_cli, kube_env).code == 0
    release = unpack(kube_env.bundle, tmp_path / "store", kube_env.pubkey).release_dir
    archive = release / "kube/images/mattermost_mattermost-enterprise-edition_10.5.2.oci.tar"
    assert archive_digest(archive) == kube_env.digests["10.5.2"]
    with tarfile.open(release / "kube/charts/mattermost-ha-0.1.0.tgz") as chart:
        assert "mattermost-ha/templates/deployment.yaml" in chart.getnames()


def test_registry_push_reads_the_images_from_the_verified_bundle(run_cli, kube_env: KubeEnv) -> None:
    assert _build(run_cli, kube_env).code == 0
    env = load_environment(inventory=str(kube_env.folder))
    with _opened(kube_env.bundle, env, None) as folder:
        archives = load_images_file(folder)
        assert [(str(a.reference), a.digest) for a in archives] == [
            (kube_env.pinned("10.5.2"), kube_env.digests["10.5.2"])
        ]
        assert archive_digest(archives[0].path) == kube_env.digests["10.5.2"]


def test_registry_push_refuses_a_tampered_bundle_before_reaching_the_registry(
    run_cli, kube_env: KubeEnv
) -> None:
    assert _build(run_cli, kube_env).code == 0
    data = bytearray(zstandard.ZstdDecompressor().stream_reader(kube_env.bundle.open("rb")).read())
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("kube/images/mattermost_mattermost-enterprise-edition_10.5.2.oci.tar")
    data[member.offset_data + 600] ^= 0x01
    kube_env.bundle.write_bytes(zstandard.ZstdCompressor().compress(bytes(data)))
    # The topology's registry does not exist: reaching it would be exit 2 "cannot reach".
    result = run_cli("registry", "push", "-i", str(kube_env.folder), "--bundle", str(kube_env.bundle))
    assert result.code == 3, result.err
    assert "modified  kube/images/mattermost_mattermost-enterprise-edition_10.5.2.oci.tar" in result.err
    assert "cannot reach" not in result.err


def test_a_pinned_digest_the_layout_does_not_hold_is_refused(run_cli, kube_env: KubeEnv) -> None:
    kube_env.digests["10.5.2"] = "sha256:" + "1" * 64
    kube_env.pin("10.5.2")
    result = _build(run_cli, kube_env)
    assert result.code == 2
    assert "is pinned to sha256:1111" in result.err
    assert not kube_env.bundle.exists()


def test_options_for_the_other_platform_are_refused(run_cli, kube_env: KubeEnv, tmp_path: Path) -> None:
    tarball = _build(run_cli, kube_env, "--mattermost-tarball", str(tmp_path / "mm.tar.gz"))
    assert tarball.code == 2
    assert "kubernetes environment: Mattermost comes as a container image" in tarball.err
    images = run_cli("bundle", "build", "-e", "dev", "--images-from", str(kube_env.layout))
    assert images.code == 2
    assert "dev is a VM environment: it carries no container images" in images.err
