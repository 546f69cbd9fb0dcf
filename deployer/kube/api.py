"""A thin JSON layer over the kubernetes client's ApiClient: get, server-side apply, delete, list."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.errors import CheckFailedError, DeployerError

FIELD_MANAGER = "deployer"
DEFAULT_KUBECONFIG = "~/.kube/config"

# (apiVersion, kind) -> (plural, namespaced) for every kind the chart renders.
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Endpoints"): ("endpoints", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("servicemonitors", True),
    ("postgresql.cnpg.io/v1", "Cluster"): ("clusters", True),
}


class KubeApiError(DeployerError):
    """The API server refused a request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, hint="check the kubeconfig, RBAC and the message above")
        self.status = status


class KubeconfigError(DeployerError):
    """The kubeconfig is missing, unreadable or not a usable kubeconfig (exit 2)."""


class KubeUnreachableError(CheckFailedError):
    """The API server the kubeconfig names does not answer (exit 3)."""


def path_for(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    try:
        plural, namespaced = KINDS[(api_version, kind)]
    except KeyError as exc:
        raise DeployerError(f"the deployer does not know how to apply {api_version} {kind}") from exc
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    return f"{base}/{name}" if name else base


@dataclass
class KubeApi:
    """Wraps kubernetes.client.ApiClient; everything in and out is plain JSON-like dicts."""

    client: Any  # kubernetes.client.ApiClient (untyped library)
    timeout: float = 30.0

    @property
    def server(self) -> str:
        """The API server's address, as the kubeconfig gives it."""
        return str(self.client.configuration.host)

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,  # noqa: ANN401 - any JSON document
        content_type: str | None = None,
    ) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, body, post = self.client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
        from urllib3.exceptions import HTTPError, MaxRetryError  # noqa: PLC0415

        try:
            response = self.client.call_api(
                method, url, header_params=headers, body=body, post_params=post, _request_timeout=self.timeout
            )
        except ApiException as exc:
            return int(exc.status or 0), (exc.body or b"") if isinstance(exc.body, bytes) else str(
                exc.body or ""
            ).encode()
        except (HTTPError, OSError) as exc:
            reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
            raise KubeUnreachableError(
                f"cannot reach the Kubernetes API server at {self.server}: {reason}",
                hint="check that the cluster runs and that this machine reaches the server the "
                "kubeconfig names (address, port, firewall, CA)",
            ) from exc
        data = response.read()
        return int(response.status), data or b""

    @staticmethod
    def _decode(status: int, data: bytes, what: str) -> dict[str, Any]:
        try:
            decoded: dict[str, Any] = json.loads(data) if data else {}
        except json.JSONDecodeError:
            decoded = {"message": data.decode(errors="replace")[:300]}
        if status >= 300:  # noqa: PLR2004
            raise KubeApiError(status, f"{what}: {status} {decoded.get('message', '')}".strip())
        return decoded

    def get(self, path: str) -> dict[str, Any] | None:
        status, data = self._call("GET", path)
        if status == 404:  # noqa: PLR2004
            return None
        return self._decode(status, data, f"GET {path}")

    def text(self, path: str) -> tuple[int, str]:
        status, data = self._call("GET", path)
        return status, data.decode(errors="replace")

    def list(self, path: str, selector: str | None = None) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        status, data = self._call("GET", path, query=query)
        items: list[dict[str, Any]] = self._decode(status, data, f"GET {path}").get("items") or []
        return items

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply, forcing ownership of the fields we manage."""
        meta = doc.get("metadata") or {}
        path = path_for(doc["apiVersion"], doc["kind"], meta.get("namespace"), meta["name"])
        status, data = self._call(
            "PATCH",
            path,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=doc,
            content_type="application/apply-patch+yaml",
        )
        return self._decode(status, data, f"apply {doc['kind']}/{meta['name']}")

    def delete(self, doc: dict[str, Any]) -> None:
        meta = doc.get("metadata") or {}
        path = path_for(doc["apiVersion"], doc["kind"], meta.get("namespace"), meta["name"])
        status, data = self._call("DELETE", path)
        if status != 404:  # noqa: PLR2004
            self._decode(status, data, f"delete {doc['kind']}/{meta['name']}")


def default_kubeconfig() -> str:
    """$KUBECONFIG (one file or several joined by ':'), else ~/.kube/config: what kubectl reads."""
    return os.environ.get("KUBECONFIG") or str(Path(DEFAULT_KUBECONFIG).expanduser())


def _check_readable(kubeconfig: str) -> None:
    for part in filter(None, kubeconfig.split(os.pathsep)):
        path = Path(part).expanduser()
        if not path.exists():
            raise KubeconfigError(
                f"kubeconfig not found: {path}",
                hint="pass --kubeconfig FILE, or set KUBECONFIG to the cluster's config "
                f"(the default is {DEFAULT_KUBECONFIG})",
            )
        try:
            path.read_bytes()
        except OSError as exc:
            raise KubeconfigError(
                f"cannot read the kubeconfig {path}: {exc.strerror}",
                hint="check the file's permissions, or pass another with --kubeconfig FILE",
            ) from exc


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubeApi:
    """An API connection from a kubeconfig (default: $KUBECONFIG or ~/.kube/config); no request yet."""
    from kubernetes import config  # noqa: PLC0415 - the client is heavy; only apply and health need it

    file = kubeconfig or default_kubeconfig()
    _check_readable(file)
    try:
        client = config.new_client_from_config(config_file=file, context=context)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise KubeconfigError(
            f"cannot load the kubeconfig {file}: {exc}",
            hint="pass --kubeconfig with the cluster's admin config (kubectl config view --raw shows it)",
        ) from exc
    return KubeApi(client)
