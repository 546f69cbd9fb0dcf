"""Health of a Kubernetes deployment: Deployment, Pods, Endpoints and the ping through the Service."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from deployer.health.model import CheckReport, HealthReport, Result
from deployer.kube.api import KubeApi
from deployer.kube.apply import pod_problems, rollout_state
from deployer.kube.values import RELEASE

SELECTOR = f"app.kubernetes.io/name=mattermost,app.kubernetes.io/instance={RELEASE}"
PING = "ping"
# What each probe checks, as the health report's check titles say it.
TITLES = {
    "deployment": "deployment: rolled out, every replica ready",
    "pods": "pods: ready, none waiting on an error",
    "spread": "spread: ready pods on distinct nodes",
    "endpoints http": "endpoints: the HTTP Service reaches every replica",
    "endpoints gossip": "endpoints: the gossip Service reaches every replica",
    PING: "ping: deep health through the Service (database and file store)",
}


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str
    target: str = ""
    seconds: float = 0.0


@dataclass
class KubeHealth:
    namespace: str
    probes: list[Probe] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(p.ok for p in self.probes)

    def render(self) -> str:
        lines = [f"{'ok  ' if p.ok else 'FAIL'} {p.name}: {p.detail}" for p in self.probes]
        lines.append(f"{self.namespace}: {'healthy' if self.healthy else 'UNHEALTHY'}")
        return "\n".join(lines)


def _ready(pod: dict[str, object]) -> bool:
    status = pod.get("status")
    conditions = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def kube_health(api: KubeApi, namespace: str, replicas: int) -> KubeHealth:
    """Reads every signal; never raises for an unhealthy cluster, only reports it."""
    report = KubeHealth(namespace)
    clock = [time.monotonic()]

    def add(probe: Probe) -> None:
        now = time.monotonic()
        report.probes.append(
            Probe(probe.name, probe.ok, probe.detail, probe.target or namespace, now - clock[0])
        )
        clock[0] = now

    deployment = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{RELEASE}")
    target = f"deployment/{RELEASE}"
    if deployment is None:
        add(Probe("deployment", ok=False, detail=f"Deployment {RELEASE} not found", target=target))
    else:
        done, why = rollout_state(deployment)
        ready = int((deployment.get("status") or {}).get("readyReplicas", 0))
        add(
            Probe(
                "deployment",
                ok=done and ready >= replicas,
                detail=f"{ready}/{replicas} ready, rollout {why}",
                target=target,
            )
        )

    pods = api.list(f"/api/v1/namespaces/{namespace}/pods", SELECTOR)
    ready_pods = [p for p in pods if _ready(p)]
    nodes = {(p.get("spec") or {}).get("nodeName") for p in ready_pods}
    problems = pod_problems(api, namespace, SELECTOR)
    add(
        Probe(
            "pods",
            ok=len(ready_pods) >= replicas and not problems,
            detail=f"{len(ready_pods)}/{len(pods)} ready on {len(nodes)} nodes"
            + (f"; {'; '.join(problems)}" if problems else ""),
            target=f"{namespace} pods",
        )
    )
    if len(ready_pods) > 1 and len(nodes) < len(ready_pods):
        add(Probe("spread", ok=False, detail="two ready pods share a node", target=f"{namespace} pods"))

    for service, what in ((RELEASE, "http"), (f"{RELEASE}-gossip", "gossip")):
        endpoints = api.get(f"/api/v1/namespaces/{namespace}/endpoints/{service}")
        addresses = sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])
        add(
            Probe(
                f"endpoints {what}",
                ok=addresses >= replicas,
                detail=f"{addresses} addresses behind {service}",
                target=f"service/{service}",
            )
        )

    ping = (
        f"/api/v1/namespaces/{namespace}/services/{RELEASE}:http/proxy"
        "/api/v4/system/ping?get_server_status=true&use_rest_semantics=true"
    )
    status, body = api.text(ping)
    try:
        answer = json.loads(body)
    except json.JSONDecodeError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    fields = {k: answer.get(k) for k in ("status", "database_status", "filestore_status")}
    ok = status == 200 and all(v == "OK" for v in fields.values())  # noqa: PLR2004
    detail = ", ".join(f"{k}={v}" for k, v in fields.items()) if answer else f"HTTP {status}"
    add(Probe(PING, ok=ok, detail=detail, target=f"service/{RELEASE}"))
    return report


def health_report(health: KubeHealth, environment: str, elapsed: float) -> HealthReport:
    """The probes as the VM health's report: the same formats, verdicts and exit codes.

    A failing probe is a warning (degraded, exit 4) while the deep ping through the Service still
    answers OK: users are served, with less redundancy. Once the ping fails, every failing probe
    is a failure (exit 3).
    """
    serving = any(p.name == PING and p.ok for p in health.probes)
    checks = []
    for probe in health.probes:
        if probe.ok:
            result = Result.ok(probe.target, probe.detail)
        elif serving:
            result = Result.warn(probe.target, probe.detail + " (still serving)")
        else:
            result = Result.fail(probe.target, probe.detail)
        name = probe.name.replace(" ", "-")
        checks.append(CheckReport(name, TITLES.get(probe.name, probe.name), [result], probe.seconds))
    return HealthReport(environment, checks, elapsed)
