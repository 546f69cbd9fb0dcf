"""The basic health checks: small objects that take the targets and return one result per thing seen."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from deployer.health.http import Answer, HttpError, request, tls_context
from deployer.health.model import Result
from deployer.health.s3 import signed_headers
from deployer.health.targets import Endpoint, Targets

T = TypeVar("T")
R = TypeVar("R")

PING = "/api/v4/system/ping?get_server_status=true"
CLUSTER_STATUS = "/api/v4/cluster/status"
OK = "OK"


class Check(Protocol):
    """A health check: `name` (stable, for JSON), `title` (for people) and its own timeout."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    def run(self, targets: Targets) -> list[Result]: ...


def parallel(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """Map over items concurrently, keeping their order (each call has its own timeout)."""
    listed = list(items)
    if not listed:
        return []
    with ThreadPoolExecutor(max_workers=len(listed)) as pool:
        return list(pool.map(func, listed))


def _summary_of_statuses(values: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items())


@dataclass
class AppPing:
    """Every app node's deep ping: the server, its database and its file store answer OK."""

    name: ClassVar[str] = "app-ping"
    title: ClassVar[str] = "app nodes: ping with database and file store"
    timeout: float = 10.0

    def run(self, targets: Targets) -> list[Result]:
        if not targets.app_nodes:
            return [Result.skip("app", "no app nodes in the topology")]
        return parallel(self._one, targets.app_nodes)

    def _one(self, node: Endpoint) -> Result:
        target = f"{node.name} ({node})"
        try:
            answer = request("GET", node.address, node.port, PING, timeout=self.timeout)
            body = answer.json()
        except HttpError as exc:
            return Result.fail(target, f"no answer: {exc}")
        if not isinstance(body, dict):
            return Result.fail(target, f"HTTP {answer.status}: unexpected answer")
        keys = ("status", "database_status", "filestore_status")
        statuses = {key: str(body.get(key, "missing")) for key in keys}
        version = answer.headers.get("x-version-id", "")
        details = {**statuses, "http_status": answer.status, "version_id": version}
        text = _summary_of_statuses(statuses)
        if all(value == OK for value in statuses.values()):
            return Result.ok(target, text, **details)
        return Result.fail(target, f"HTTP {answer.status}: {text}", **details)


@dataclass
class ClusterStatus:
    """All app nodes in the cluster status, alive, on one version with one config hash."""

    name: ClassVar[str] = "cluster"
    title: ClassVar[str] = "app cluster: members alive, one version, one config"
    timeout: float = 10.0

    def run(self, targets: Targets) -> list[Result]:
        if not targets.app_nodes:
            return [Result.skip("cluster", "no app nodes in the topology")]
        headers = {}
        if targets.secrets.mattermost_token:
            headers["Authorization"] = f"Bearer {targets.secrets.mattermost_token}"
        errors = []
        for node in targets.app_nodes:
            try:
                answer = request(
                    "GET", node.address, node.port, CLUSTER_STATUS, timeout=self.timeout, headers=headers
                )
            except HttpError as exc:
                errors.append(f"{node.name}: {exc}")
                continue
            return self._evaluate(targets, node, answer)
        return [Result.fail("cluster", "no app node answered: " + "; ".join(errors))]

    def _evaluate(self, targets: Targets, asked: Endpoint, answer: Answer) -> list[Result]:
        if answer.status in {401, 403}:
            return [
                Result.fail(
                    "cluster",
                    f"{asked.name} answered HTTP {answer.status}: cluster status needs a system admin's "
                    "token (vault key mattermost_admin_token)",
                )
            ]
        try:
            members = answer.json()
        except HttpError as exc:
            return [Result.fail("cluster", f"{asked.name}: {exc}")]
        if answer.status != 200 or not isinstance(members, list):  # noqa: PLR2004 - HTTP OK
            return [Result.fail("cluster", f"{asked.name} answered HTTP {answer.status}")]
        if not members:
            return [Result.fail("cluster", f"{asked.name} reports no cluster (ClusterSettings.Enable off?)")]
        results = []
        for member in members:
            hostname = str(member.get("hostname", "?"))
            alive = bool(member.get("is_alive"))
            config = str(member.get("config_hash", "?"))[:12]
            detail = f"version {member.get('version', '?')}, config {config}"
            results.append(
                Result.ok(hostname, f"alive, {detail}", **member)
                if alive
                else Result.fail(hostname, f"NOT alive (missed pings), {detail}", **member)
            )
        results.append(self._agreement(targets, members))
        return results

    def _agreement(self, targets: Targets, members: list[dict[str, Any]]) -> Result:
        versions = sorted({str(m.get("version", "")) for m in members})
        hashes = sorted({str(m.get("config_hash", "")) for m in members})
        known = {str(m.get("hostname", "")) for m in members} | {str(m.get("ipaddress", "")) for m in members}
        missing = [n.name for n in targets.app_nodes if n.name not in known and n.address not in known]
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if len(versions) > 1:
            problems.append(f"{len(versions)} versions: {', '.join(versions)}")
        if len(hashes) > 1:
            problems.append(f"{len(hashes)} config hashes (config drift between nodes)")
        details = {"members": len(members), "expected": len(targets.app_nodes), "versions": versions}
        if problems:
            return Result.fail("agreement", "; ".join(problems), **details)
        return Result.ok(
            "agreement", f"{len(members)} of {len(targets.app_nodes)} nodes, version {versions[0]}", **details
        )


@dataclass
class VipHttps:
    """The load balancers' VIP answers HTTPS with a certificate the environment's CA vouches for."""

    name: ClassVar[str] = "vip"
    title: ClassVar[str] = "entry point: HTTPS on the VIP"
    timeout: float = 10.0

    def run(self, targets: Targets) -> list[Result]:
        vip = targets.vip
        if vip is None:
            return [Result.skip("vip", "no VIP or load balancer in the topology")]
        target = f"{targets.site_host} via {vip}"
        if not targets.ca_pem:
            return [Result.fail(target, "no CA certificate for the environment; will not check insecurely")]
        try:
            answer = request(
                "GET",
                vip.address,
                vip.port,
                "/api/v4/system/ping",
                timeout=self.timeout,
                tls=tls_context(targets.ca_pem),
                server_name=targets.site_host,
            )
        except HttpError as exc:
            return [Result.fail(target, str(exc))]
        if answer.status == 200:  # noqa: PLR2004 - HTTP OK
            return [Result.ok(target, "HTTP 200, certificate trusted", http_status=200)]
        return [Result.fail(target, f"HTTP {answer.status}", http_status=answer.status)]


@dataclass
class Database:
    """Patroni: exactly one running leader and every replica streaming within the allowed lag."""

    name: ClassVar[str] = "database"
    title: ClassVar[str] = "database: Patroni leader and streaming replicas"
    timeout: float = 10.0
    leader_roles: ClassVar[frozenset[str]] = frozenset({"leader", "standby_leader"})

    def run(self, targets: Targets) -> list[Result]:
        if not targets.patroni:
            return [Result.skip("database", "no database hosts in the topology")]
        answers = parallel(self._ask, targets.patroni)
        results = [
            Result.fail(f"{ep.name} ({ep})", f"Patroni REST API: {err}") for ep, _, err in answers if err
        ]
        cluster = next((body for _, body, err in answers if not err), None)
        if cluster is None:
            return results or [Result.fail("database", "no Patroni answered")]
        members = cluster.get("members", [])
        results.extend(self._member(m, targets.max_lag_bytes) for m in members)
        leaders = [m for m in members if m.get("role") in self.leader_roles]
        replicas = [m for m in members if m.get("role") not in self.leader_roles]
        summary = f"{len(leaders)} leader(s), {len(replicas)} of {targets.expected_replicas} replica(s)"
        if len(leaders) == 1 and len(replicas) >= targets.expected_replicas:
            results.append(Result.ok("topology", summary))
        else:
            results.append(Result.fail("topology", summary))
        return results

    def _ask(self, endpoint: Endpoint) -> tuple[Endpoint, dict[str, Any], str]:
        try:
            answer = request("GET", endpoint.address, endpoint.port, "/cluster", timeout=self.timeout)
            body = answer.json()
        except HttpError as exc:
            return endpoint, {}, str(exc)
        if answer.status != 200 or not isinstance(body, dict):  # noqa: PLR2004 - HTTP OK
            return endpoint, {}, f"HTTP {answer.status}"
        return endpoint, body, ""

    def _member(self, member: dict[str, Any], max_lag: int | None) -> Result:
        name = str(member.get("name", "?"))
        role = str(member.get("role", "?"))
        state = str(member.get("state", "?"))
        target = f"{name} ({member.get('host', '?')})"
        if role in self.leader_roles:
            if state == "running":
                return Result.ok(target, f"{role}, running", **member)
            return Result.fail(target, f"{role}, {state}", **member)
        lag = member.get("lag")
        lag_text = f"lag {lag} bytes" if isinstance(lag, int) else f"lag {lag}"
        if state not in {"streaming", "running"}:
            return Result.fail(target, f"{role}, {state}, {lag_text}", **member)
        if not isinstance(lag, int):
            return Result.fail(target, f"{role}, {state}, {lag_text}: not replicating", **member)
        if max_lag is not None and lag > max_lag:
            return Result.fail(target, f"{role}, {state}, {lag_text} > {max_lag}", **member)
        return Result.ok(target, f"{role}, {state}, {lag_text}", **member)


@dataclass
class Storage:
    """An object written through the VIP's S3 port can be read back and deleted."""

    name: ClassVar[str] = "storage"
    title: ClassVar[str] = "file storage: S3 put, get, delete through the VIP"
    timeout: float = 15.0
    prefix: ClassVar[str] = "deployer-health"

    def run(self, targets: Targets) -> list[Result]:
        s3 = targets.s3
        if s3 is None:
            return [Result.skip("s3", "storage is not S3 behind the load balancers")]
        target = f"s3://{targets.bucket} via {s3}"
        access, secret = targets.secrets.s3_access_key, targets.secrets.s3_secret_key
        if not access or not secret:
            return [Result.fail(target, "the vault holds no S3 keys for this environment")]
        key = f"/{targets.bucket}/{self.prefix}/{uuid.uuid4().hex}"
        payload = f"deployer health {uuid.uuid4()}\n".encode()

        def call(method: str, body: bytes = b"") -> Answer:
            assert s3 is not None  # noqa: S101 - narrowed above; closures lose it
            headers = signed_headers(method, str(s3), key, access_key=access, secret_key=secret, payload=body)
            return request(method, s3.address, s3.port, key, timeout=self.timeout, headers=headers, body=body)

        try:
            put = call("PUT", payload)
            if put.status != 200:  # noqa: PLR2004 - HTTP OK
                return [Result.fail(target, f"PUT answered HTTP {put.status}: {put.body[:120]!r}")]
            got = call("GET")
            deleted = call("DELETE")
        except HttpError as exc:
            return [Result.fail(target, str(exc))]
        if got.status != 200 or got.body != payload:  # noqa: PLR2004 - HTTP OK
            summary = f"GET answered HTTP {got.status} and {len(got.body)} bytes, not what was put"
            return [Result.fail(target, summary)]
        if deleted.status not in {200, 204}:
            return [Result.fail(target, f"DELETE answered HTTP {deleted.status}")]
        return [Result.ok(target, "put, read back and deleted one object")]


def default_checks(timeout: float = 10.0) -> list[Check]:
    """The basic checks, in report order, each request limited to `timeout` seconds."""
    return [
        AppPing(timeout),
        ClusterStatus(timeout),
        VipHttps(timeout),
        Database(timeout),
        Storage(timeout),
    ]
