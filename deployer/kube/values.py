"""Computes the mattermost-ha chart's values from the topology; the only place that maps one to the other."""

from __future__ import annotations

from typing import Any

from deployer.kube.findings import KubernetesSetupError
from deployer.kube.images import ImageRef
from deployer.sizing import reference_for
from deployer.topology.load import Environment
from deployer.topology.model import Kubernetes, Platform, StorageType, Topology

RELEASE = "mattermost"
CHART_NAME = "mattermost-ha"
# Whole pods, not millicores: the reference architectures size nodes in vCPUs.
_STARTUP_SECONDS = 600
_WEBSOCKET_TIMEOUT_SECONDS = 600


def kube_section(topology: Topology) -> Kubernetes:
    if topology.platform is not Platform.KUBERNETES or topology.kubernetes is None:
        raise KubernetesSetupError(
            f"environment '{topology.name}' is not a Kubernetes environment",
            hint="set `platform: kubernetes` and add a `kubernetes:` section to the topology",
        )
    return topology.kubernetes


def _image(reference: str | None, registry: str, key: str) -> dict[str, str]:
    if reference is None:
        raise KubernetesSetupError(
            f"kubernetes.{key} is not set",
            hint=f"add kubernetes.{key}: REPOSITORY:TAG@sha256:DIGEST (the image you mirrored)",
        )
    ref = ImageRef.parse(reference).relocated(registry)
    return {
        "registry": ref.registry,
        "repository": ref.repository,
        "tag": ref.tag or "",
        "digest": ref.digest or "",
    }


def _s3_endpoint(kube: Kubernetes) -> tuple[str, bool]:
    """('host:port', ssl) from the topology's endpoint, written with or without a scheme."""
    endpoint = kube.external_s3_endpoint
    if not endpoint:
        raise KubernetesSetupError(
            "kubernetes.external_s3_endpoint is not set",
            hint="name the S3-compatible store the pods use, e.g. s3.example.internal:8333",
        )
    if endpoint.startswith("http://"):
        return endpoint.removeprefix("http://").rstrip("/"), False
    return endpoint.removeprefix("https://").rstrip("/"), True


def chart_values(env: Environment) -> dict[str, Any]:
    """Every value the chart needs, derived from the topology alone."""
    topology = env.topology
    kube = kube_section(topology)
    if topology.storage.type is not StorageType.S3:
        raise KubernetesSetupError(
            f"storage type '{topology.storage.type}' does not work on Kubernetes",
            hint="use `storage: {type: s3}`: every pod must see the same files",
        )
    ref = reference_for(topology.mattermost.users)
    cpu, memory = str(ref.app_vcpu), f"{ref.app_mem_gib}Gi"
    endpoint, ssl = _s3_endpoint(kube)
    database: dict[str, Any] = {"mode": kube.database, "existingSecret": f"{RELEASE}-database"}
    if kube.database == "cloudnativepg":
        database["cloudnativepg"] = {
            # One writer plus the readers the reference architecture asks for.
            "instances": 1 + ref.db_readers,
            "synchronous": topology.database.synchronous_replication,
            "storageSize": "50Gi",
            "storageClass": "",
            "image": _image(kube.postgres_image, kube.registry, "postgres_image"),
        }
    return {
        "clusterName": topology.mattermost.cluster_name,
        "siteUrl": topology.mattermost.site_url,
        "image": {
            **_image(kube.mattermost_image, kube.registry, "mattermost_image"),
            "pullPolicy": "IfNotPresent",
        },
        "replicas": kube.app_replicas,
        "zones": list(kube.zones),
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        },
        "startupSeconds": _STARTUP_SECONDS,
        "ingress": {
            "host": kube.ingress_host,
            "className": kube.ingress_class,
            "tlsSecret": f"{RELEASE}-tls",
            "timeoutSeconds": _WEBSOCKET_TIMEOUT_SECONDS,
            "bodySize": "100m",
            "controllerNamespace": kube.ingress_namespace,
        },
        "database": database,
        "fileStore": {
            "bucket": topology.storage.bucket,
            "endpoint": endpoint,
            "region": "us-east-1",
            "ssl": ssl,
            "pathPrefix": "",
            "existingSecret": f"{RELEASE}-s3",
        },
        "license": {"existingSecret": f"{RELEASE}-license", "key": "license"},
        "metrics": {
            "enabled": True,
            "serviceMonitor": kube.service_monitor,
            "interval": "30s",
            "scraperNamespace": "monitoring",
        },
    }
