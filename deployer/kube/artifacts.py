"""What the offline bundle carries for a Kubernetes environment: the packaged chart and every image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployer.kube.findings import KubernetesSetupError
from deployer.kube.images import ImageRef
from deployer.kube.manifest import image_slots
from deployer.kube.oci import ImageArchive, export_from_docker, export_from_layout
from deployer.kube.registry import write_images_file
from deployer.kube.render import chart_dir, render_manifests
from deployer.kube.values import kube_section
from deployer.topology.load import Environment


@dataclass(frozen=True)
class KubeArtifacts:
    """The chart folder to package and the images (as pinned upstream) the manifests use."""

    chart_dir: Path
    images: list[ImageRef]


@dataclass(frozen=True)
class KubePayload:
    """Files written into the bundle: the chart package, images.json and one OCI archive per image."""

    chart_package: Path
    images_file: Path
    archives: list[ImageArchive]

    @property
    def files(self) -> list[Path]:
        return [self.chart_package, self.images_file, *(a.path for a in self.archives)]


def kubernetes_artifacts(env: Environment) -> KubeArtifacts:
    """Every image the rendered manifests use, traced back to the reference pinned in the topology."""
    kube = kube_section(env.topology)
    pinned = [ImageRef.parse(r) for r in (kube.mattermost_image, kube.postgres_image) if r]
    by_identity = {(r.repository, r.tag, r.digest): r for r in pinned}
    used: set[ImageRef] = set()
    for manifest in render_manifests(env):
        for slot in image_slots(manifest.doc):
            ref = ImageRef.parse(slot.image)
            source = by_identity.get((ref.repository, ref.tag, ref.digest))
            if source is None:
                raise KubernetesSetupError(
                    f"{manifest.file} uses {slot.image}, which the topology does not pin",
                    hint="every image must come from kubernetes.*_image in the topology",
                )
            used.add(source)
    return KubeArtifacts(chart_dir(), sorted(used, key=str))


def _archive_name(ref: ImageRef) -> str:
    return f"{ref.repository.replace('/', '_')}_{ref.tag or 'untagged'}.oci.tar"


def write_kube_payload(env: Environment, dest: Path, layout_dir: Path | None = None) -> KubePayload:
    """Package the chart into dest/charts and export each image into dest/images.

    Images come from `layout_dir` (an OCI layout folder holding them, named by
    org.opencontainers.image.ref.name) when given, else from the local Docker daemon; each
    archive's digest must equal the digest pinned in the topology.
    """
    import helm_python as helm  # noqa: PLC0415 - native library, only for bundling and rendering

    artifacts = kubernetes_artifacts(env)
    charts = dest / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    package = Path(helm.package(artifacts.chart_dir, destination=charts))
    images = dest / "images"
    archives = []
    for ref in artifacts.images:
        target = images / _archive_name(ref)
        if layout_dir is not None:
            archives.append(export_from_layout(layout_dir, ref, target))
        else:
            archives.append(export_from_docker(ref, target))
    images.mkdir(parents=True, exist_ok=True)
    return KubePayload(package, write_images_file(images, archives), archives)


def registry_of(env: Environment) -> str:
    return kube_section(env.topology).registry
