"""Kubernetes environments: the packaged Helm chart and every image the manifests use, as OCI archives."""

from __future__ import annotations

from pathlib import Path

import yaml

from deployer.bundle.content import BundlePlan
from deployer.bundle.errors import BundleInputError
from deployer.bundle.manifest import Kind
from deployer.bundle.providers import BuildContext, Staged, stage
from deployer.kube.images import ImageRef
from deployer.topology.model import Platform

# Where the payload sits in the bundle; `deployer registry push` looks for kube/images/images.json.
KUBE_DIR = "kube"


def image_name(ref: ImageRef) -> str:
    """The manifest's name of an image: registry (when the topology names one) and repository."""
    return str(ImageRef(ref.registry, ref.repository, None, None))


def image_version(tag: str | None, digest: str) -> str:
    """The manifest's version of an image: `TAG@DIGEST`, as the topology pins it."""
    return f"{tag}@{digest}" if tag else digest


def image_digest(version: str) -> str:
    """The digest part of an image entry's version."""
    return version.rpartition("@")[2]


class KubernetesProvider:
    name = "kubernetes"

    def applies(self, plan: BundlePlan) -> bool:
        return plan.platform is Platform.KUBERNETES

    def collect(self, ctx: BuildContext) -> list[Staged]:
        from deployer.kube.artifacts import write_kube_payload  # noqa: PLC0415 - Helm only when used
        from deployer.kube.render import chart_dir  # noqa: PLC0415

        env = ctx.environment
        if env is None:  # pragma: no cover - build_environment always passes it
            raise BundleInputError("the kubernetes provider needs the environment, not only its plan")
        source = f"OCI layout {ctx.image_layout}" if ctx.image_layout else "the local Docker daemon"
        dest = ctx.work / KUBE_DIR
        with ctx.reporter.step(f"package the chart and export the images from {source}"):
            payload = write_kube_payload(env, dest, layout_dir=ctx.image_layout)
        chart = _chart_meta(chart_dir())

        def path_of(file: Path) -> str:
            return f"{KUBE_DIR}/{file.relative_to(dest).as_posix()}"

        staged = [
            stage(
                payload.chart_package,
                path_of(payload.chart_package),
                kind=Kind.CHART,
                name=chart["name"],
                version=chart["version"],
                origin=f"helm package of charts/{chart['name']} (appVersion {chart['appVersion']})",
            ),
            stage(
                payload.images_file,
                path_of(payload.images_file),
                kind=Kind.OTHER,
                name=payload.images_file.name,
                version="1",
                origin="generated: the image list `deployer registry push` reads",
            ),
        ]
        staged += [
            stage(
                archive.path,
                path_of(archive.path),
                kind=Kind.IMAGE,
                name=image_name(archive.reference),
                version=image_version(archive.reference.tag, archive.digest),
                origin=f"{archive.reference} from {source}",
            )
            for archive in payload.archives
        ]
        ctx.reporter.line(
            f"kubernetes: chart {chart['name']} {chart['version']} and {len(payload.archives)} image(s)"
        )
        return staged


def _chart_meta(folder: Path) -> dict[str, str]:
    data = yaml.safe_load((folder / "Chart.yaml").read_text(encoding="utf-8"))
    return {key: str(data.get(key, "")) for key in ("name", "version", "appVersion")}
