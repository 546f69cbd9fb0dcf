"""Applies rendered manifests with server-side apply, waits for the rollout, and rolls back on failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import CheckFailedError, DeployerError
from deployer.kube.api import KubeApi, KubeApiError, path_for

Progress = Callable[[str], None]

# Order of application: what others reference comes first, what exposes the app comes last.
ORDER = [
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "NetworkPolicy",
    "Service",
    "PodDisruptionBudget",
    "Cluster",
    "Deployment",
    "Ingress",
    "ServiceMonitor",
]
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")
_STUCK_REASONS = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"}
)


class RolloutFailedError(CheckFailedError):
    """The new version did not become ready; the previous state was restored."""


class ApplyRefusedError(CheckFailedError):
    """The API server refused an object half-way; what was applied before it was restored."""


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    rolled_out: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _quiet(line: str) -> None:
    del line


def load_manifests(folder: Path) -> list[dict[str, Any]]:
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))]
    return sorted(
        (d for d in docs if isinstance(d, dict)),
        key=lambda d: (ORDER.index(d["kind"]) if d["kind"] in ORDER else len(ORDER), d["metadata"]["name"]),
    )


def _label(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _restorable(live: dict[str, Any]) -> dict[str, Any]:
    """A live object turned back into something to apply: no status, no server-owned metadata."""
    doc = {k: v for k, v in live.items() if k != "status"}
    meta = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != "deployment.kubernetes.io/revision"
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    doc["metadata"] = meta
    return doc


def _path(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    return path_for(doc["apiVersion"], doc["kind"], meta.get("namespace"), meta["name"])


def rollout_state(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(done, why not): done when every replica runs the new template and is available."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas", 1))
    generation = int((deployment.get("metadata") or {}).get("generation", 0))
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return False, "failed: " + str(condition.get("message", "progress deadline exceeded"))
    if int(status.get("observedGeneration", 0)) < generation:
        return False, "waiting for the controller to see the new spec"
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    if updated < want:
        return False, f"{updated} of {want} pods updated"
    if total > updated:
        return False, f"{total - updated} old pods still running"
    if available < want:
        return False, f"{available} of {want} pods available"
    return True, "done"


def pod_problems(api: KubeApi, namespace: str, selector: str) -> list[str]:
    """Why pods are not ready, as kubectl describe would say it."""
    problems = []
    for pod in api.list(f"/api/v1/namespaces/{namespace}/pods", selector):
        name = pod["metadata"]["name"]
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                problems.append(f"{name}: {waiting['reason']} {waiting.get('message', '')}".strip())
    return sorted(problems)


def _selector(deployment: dict[str, Any]) -> str:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def wait_for_rollout(
    api: KubeApi,
    deployment: dict[str, Any],
    timeout: float,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    *,
    progress: Progress = _quiet,
) -> tuple[bool, str]:
    """Poll the Deployment until rolled out, failed, stuck on a pod error, or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    namespace = deployment["metadata"]["namespace"]
    why = "not started"
    said = ""
    while True:
        live = api.get(_path(deployment))
        if live is None:
            return False, "the Deployment disappeared"
        done, why = rollout_state(live)
        if why != said:
            progress(f"  {_label(deployment)}: {why}")
            said = why
        if done:
            return True, why
        if why.startswith("failed"):
            return False, why
        stuck = [
            p
            for p in pod_problems(api, namespace, _selector(live))
            if p.split(": ")[1].split()[0] in _STUCK_REASONS
        ]
        if stuck:
            return False, "; ".join(stuck)
        if time.monotonic() >= deadline:
            return False, f"timed out after {timeout:.0f} s: {why}"
        sleep(interval)


def apply_manifests(
    api: KubeApi,
    docs: list[dict[str, Any]],
    *,
    timeout: float = 900.0,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress = _quiet,
) -> ApplyResult:
    """Apply everything, wait for each Deployment, and restore the previous state if one fails.

    The previous state is also restored when the API server refuses an object half-way, so a
    deploy never leaves a mix of old and new objects behind.
    """
    started = time.monotonic()
    result = ApplyResult()
    namespace = next((d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace")), None)
    if namespace:
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    previous = {_label(d): api.get(_path(d)) for d in docs}
    applied: list[dict[str, Any]] = []
    for doc in docs:
        try:
            api.apply(doc)
        except KubeApiError as exc:
            progress(f"{_label(doc)} refused; rolling back")
            raise ApplyRefusedError(
                f"{exc.message}; {_roll_back(api, applied, previous)}",
                hint="fix what the API server names (RBAC, a missing CRD, an invalid field) and deploy again",
            ) from exc
        applied.append(doc)
        result.applied.append(_label(doc))
        created = previous[_label(doc)] is None
        if created:
            result.created.append(_label(doc))
        progress(f"applied {_label(doc)} ({'created' if created else 'configured'})")
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        progress(f"waiting for {_label(doc)} to roll out (up to {timeout:.0f} s)")
        ok, why = wait_for_rollout(api, doc, timeout, interval, sleep, progress=progress)
        if not ok:
            progress(f"{_label(doc)} did not roll out; rolling back")
            raise RolloutFailedError(
                f"{_label(doc)} did not roll out: {why}; {_roll_back(api, docs, previous)}",
                hint="read the pod events (kubectl -n NAMESPACE describe pods) and fix the cause",
            )
        result.rolled_out.append(_label(doc))
    result.seconds = time.monotonic() - started
    return result


def _roll_back(api: KubeApi, docs: list[dict[str, Any]], previous: dict[str, dict[str, Any] | None]) -> str:
    """Roll back and say what happened, also when the rollback itself fails."""
    try:
        return f"rolled back ({rollback(api, docs, previous)})"
    except DeployerError as exc:
        return f"the rollback failed too ({exc.message}): check the namespace by hand"


def rollback(api: KubeApi, docs: list[dict[str, Any]], previous: dict[str, dict[str, Any] | None]) -> str:
    """Re-apply what was live before and delete what this deploy created; says what it did."""
    restored, deleted = 0, 0
    for doc in reversed(docs):
        before = previous.get(_label(doc))
        if before is None:
            api.delete(doc)
            deleted += 1
        else:
            api.apply(_restorable(before))
            restored += 1
    return f"{restored} objects restored, {deleted} new objects deleted"
