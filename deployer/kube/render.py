"""Renders the mattermost-ha chart through Helm's own engine and writes one manifest file per resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deployer import paths
from deployer.checks.findings import Severity
from deployer.errors import DeployerError
from deployer.kube.findings import KubernetesSetupError, ManifestCheckError, ManifestFinding
from deployer.kube.images import ImageRef, ImageReferenceError
from deployer.kube.manifest import Manifest, file_name, image_slots
from deployer.kube.values import CHART_NAME, RELEASE, chart_values, kube_section
from deployer.topology.load import Environment


class ChartValuesError(DeployerError):
    """The values computed from the topology break the chart's values.schema.json."""


class ChartRenderError(DeployerError):
    """Helm's engine could not render the chart."""


def chart_dir() -> Path:
    """The chart travels inside the wheel (deployer/_charts); in a checkout it sits at the top."""
    packaged = paths.PACKAGE_DIR / "_charts" / CHART_NAME
    if packaged.is_dir():
        return packaged
    return paths.PACKAGE_DIR.parent / "charts" / CHART_NAME


class _Dumper(yaml.SafeDumper):
    """Block style, stable key order, no anchors: the same input gives the same bytes."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ANN401 - PyYAML's signature
        del data
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent sequences under their key, as kubectl and yamllint expect.
        del indentless
        super().increase_indent(flow, indentless=False)


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump(doc: dict[str, Any], template: str) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=4096)
    return f"# Source: {template}\n{body}"


def render_values(values: dict[str, Any], namespace: str) -> dict[str, str]:
    """Template path -> rendered text, from Helm's engine (helm-python-sdk, no helm binary)."""
    import helm_python as helm  # noqa: PLC0415 - loads a native library; only this command needs it

    try:
        with helm.Chart.load(chart_dir()) as chart:
            return chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    except helm.HelmValuesError as exc:
        raise ChartValuesError(
            f"the chart's values.schema.json rejects the values from the topology:\n{exc}",
            hint="fix the topology key behind the value named above",
        ) from exc
    except helm.HelmError as exc:
        raise ChartRenderError(
            f"Helm could not render {CHART_NAME}: {exc}",
            hint="a template is broken; run the chart tests (pytest tests/unit/test_kube_chart.py)",
        ) from exc


def split(rendered: dict[str, str]) -> list[Manifest]:
    """One Manifest per YAML document, in a stable order; empty documents are dropped."""
    manifests: list[Manifest] = []
    seen: dict[str, str] = {}
    for template in sorted(rendered):
        for doc in yaml.safe_load_all(rendered[template]):
            if not doc:
                continue
            if not isinstance(doc, dict):
                raise ChartRenderError(f"{template} renders something that is not a resource")
            name = file_name(doc)
            if name in seen:
                raise ChartRenderError(
                    f"{template} and {seen[name]} both render {doc.get('kind')} "
                    f"'{doc.get('metadata', {}).get('name')}'"
                )
            seen[name] = template
            manifests.append(Manifest(name, template, doc))
    return sorted(manifests, key=lambda m: m.file)


def relocate(manifests: list[Manifest], registry: str) -> list[ManifestFinding]:
    """Rewrite every image to `registry`, keeping repository, tag and digest.

    The chart already builds references from the site registry; this pass makes sure no
    template (or a future one) slips a public reference through.
    """
    problems: list[ManifestFinding] = []
    for manifest in manifests:
        for slot in image_slots(manifest.doc):
            try:
                ref = ImageRef.parse(slot.image)
            except ImageReferenceError as exc:
                problems.append(
                    ManifestFinding(
                        manifest.file, manifest.resource, "kube.image-reference", Severity.ERROR, str(exc)
                    )
                )
                continue
            slot.holder[slot.key] = str(ref.relocated(registry))
    return problems


def render_manifests(env: Environment) -> list[Manifest]:
    """Values from the topology -> Helm -> one relocated Manifest per resource (nothing written)."""
    kube = kube_section(env.topology)
    values = chart_values(env)
    manifests = split(render_values(values, kube.namespace))
    if not manifests:
        raise KubernetesSetupError("the chart rendered no resources")
    problems = relocate(manifests, kube.registry)
    if problems:
        raise ManifestCheckError(problems)
    return manifests


def write_manifests(manifests: list[Manifest], out_dir: Path) -> list[Path]:
    """Write one file per resource; files of an earlier render that no longer exist are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for manifest in manifests:
        path = out_dir / manifest.file
        text = dump(manifest.doc, manifest.template)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    keep = {p.name for p in written}
    for stale in out_dir.glob("*.yaml"):
        if stale.name not in keep:
            stale.unlink()
    return written
