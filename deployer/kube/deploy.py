"""`deployer deploy` and `deployer health` for kubernetes environments, from the kubeconfig to the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.bundle.errors import BundleVerificationError
from deployer.bundle.manifest import Kind, Manifest
from deployer.bundle.verify import environment_trust, verify_environment_bundle
from deployer.health.model import HealthReport
from deployer.kube.api import KubeApi, connect
from deployer.kube.apply import ApplyResult, apply_manifests, load_manifests
from deployer.kube.health import health_report, kube_health
from deployer.kube.images import ImageRef
from deployer.kube.manifest import image_slots
from deployer.kube.values import kube_section
from deployer.render import render_environment
from deployer.report.table import table
from deployer.topology import Environment

Echo = Callable[[str], None]
# Seconds between two looks at a rolling Deployment.
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class KubeDeployOptions:
    kubeconfig: str | None = None  # default: $KUBECONFIG, then ~/.kube/config
    bundle: Path | None = None  # default: bundle.path of the topology
    render_dir: Path | None = None  # default: build/<env>
    timeout: float = 900.0  # seconds each Deployment may take to roll out


@dataclass
class KubeDeployResult:
    environment: str
    server: str
    namespace: str
    applied: ApplyResult
    actions: list[tuple[str, str]] = field(default_factory=list)  # (Kind/name, created|configured)
    seconds: float = 0.0

    def summary(self) -> str:
        created = len(self.applied.created)
        return (
            f"deployed {self.environment} to {self.server} (namespace {self.namespace}) in "
            f"{self.seconds:.0f} s: {len(self.applied.applied)} object(s) applied ({created} created), "
            f"rolled out: {', '.join(self.applied.rolled_out) or 'nothing to roll out'}"
        )

    def table(self) -> str:
        rows = [[*label.split("/", 1), action] for label, action in self.actions]
        return table(["kind", "name", "action"], rows, indent="  ")


def verify_images(manifest: Manifest, docs: list[dict[str, Any]], bundle: str) -> None:
    """Every image the manifests use must be in the verified bundle, by digest."""
    carried = {f.version.rpartition("@")[2] for f in manifest.files if f.kind is Kind.IMAGE}
    for doc in docs:
        for slot in image_slots(doc):
            digest = ImageRef.parse(slot.image).digest
            if digest not in carried:
                label = f"{doc['kind']}/{doc['metadata']['name']}"
                raise BundleVerificationError(
                    f"{label} uses {slot.image}, and the bundle {bundle} does not carry that image",
                    hint="build the bundle again from this topology (deployer bundle build), carry it "
                    "over, and push its images (deployer registry push)",
                )


def deploy_kubernetes(env: Environment, options: KubeDeployOptions, echo: Echo) -> KubeDeployResult:
    """Verify the bundle, render and check, then server-side apply, wait, and roll back on failure."""
    started = time.monotonic()
    namespace = kube_section(env.topology).namespace
    api = connect(options.kubeconfig)  # reads the kubeconfig only: a bad one fails before any work
    default_bundle, public_key = environment_trust(env)
    bundle = options.bundle or default_bundle
    echo(f"verify {bundle} against {public_key}")
    manifest = verify_environment_bundle(env, bundle=bundle)
    out_dir = (options.render_dir or Path("build") / env.name).resolve()
    render_environment(env, out_dir)
    docs = load_manifests(out_dir / "kubernetes")
    verify_images(manifest, docs, str(bundle))
    echo(f"bundle verified; it carries every image of the {len(docs)} manifests in {out_dir / 'kubernetes'}")
    echo(f"server-side apply to {api.server}, namespace {namespace}")
    applied = apply_manifests(api, docs, timeout=options.timeout, interval=POLL_SECONDS, progress=echo)
    actions = [(label, "created" if label in applied.created else "configured") for label in applied.applied]
    return KubeDeployResult(
        env.name, api.server, namespace, applied, actions, seconds=time.monotonic() - started
    )


def kube_health_report(env: Environment, kubeconfig: str | None, timeout: float) -> HealthReport:
    """`deployer health` of a kubernetes environment, as the same report the VM health gives."""
    kube = kube_section(env.topology)
    api: KubeApi = connect(kubeconfig)
    api.timeout = timeout
    started = time.monotonic()
    health = kube_health(api, kube.namespace, kube.app_replicas)
    return health_report(health, env.name, time.monotonic() - started)
