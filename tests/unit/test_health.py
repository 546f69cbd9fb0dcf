"""`deployer health` against fakes on 127.0.0.1: real HTTP and TLS servers serving recorded answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deployer.cli.main import COMMANDS, main
from deployer.health import checks, output
from deployer.health.model import Result, Status
from deployer.health.runner import run_checks
from deployer.health.s3 import signed_headers
from deployer.health.targets import Endpoint, Secrets, Targets, targets_for
from deployer.render.ansible import PORTS
from deployer.topology import load_environment

RECORDED = Path(__file__).resolve().parents[1] / "data" / "app" / "health"
SITE = "chat.staging.example.internal"
ACCESS, SECRET = "health-access", "health-secret/key+1"  # a throwaway pair for the fake S3


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


# --- fake servers -------------------------------------------------------------------------


Route = tuple[int, dict[str, str], bytes]


@dataclass
class FakeServer:
    """A real HTTP(S) server on 127.0.0.1 answering GETs from a path -> answer table."""

    routes: dict[str, Route] = field(default_factory=dict)
    handler: Callable[[BaseHTTPRequestHandler, bytes], Route] | None = None
    delay: float = 0.0
    tls: ssl.SSLContext | None = None
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer = field(init=False)

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers)))
                time.sleep(fake.delay)
                if fake.handler is not None:
                    status, headers, payload = fake.handler(self, body)
                else:
                    status, headers, payload = fake.routes.get(self.path, (404, {}, b'{"message":"nope"}'))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(name, "127.0.0.1", self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_route(body: bytes, status: int = 200, **headers: str) -> Route:
    return status, {"Content-Type": "application/json", **headers}, body


class FakeS3:
    """Path-style S3 with one key pair; checks each request's SigV4 signature like a gateway does."""

    def __init__(self, access: str = ACCESS, secret: str = SECRET) -> None:
        self.access, self.secret = access, secret
        self.objects: dict[str, bytes] = {}

    def __call__(self, request: BaseHTTPRequestHandler, body: bytes) -> Route:
        auth = request.headers.get("Authorization", "")
        when = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        expected = signed_headers(
            request.command,
            request.headers["Host"],
            request.path,
            access_key=self.access,
            secret_key=self.secret,
            payload=body,
            now=when,
        )["authorization"]
        if auth != expected or hashlib.sha256(body).hexdigest() != request.headers["X-Amz-Content-Sha256"]:
            return 403, {}, b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
        if request.command == "PUT":
            self.objects[request.path] = body
            return 200, {"ETag": '"1"'}, b""
        if request.command == "GET":
            found = self.objects.get(request.path)
            return (
                (200, {}, found) if found is not None else (404, {}, b"<Error><Code>NoSuchKey</Code></Error>")
            )
        self.objects.pop(request.path, None)
        return 204, {}, b""


@dataclass(frozen=True)
class Pki:
    ca_pem: str
    server: ssl.SSLContext


def make_pki(tmp: Path, host: str = SITE) -> Pki:
    """An environment CA and a server certificate for `host` signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test environment CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / f"{host}.crt", tmp / f"{host}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return Pki(ca.public_bytes(serialization.Encoding.PEM).decode(), context)


# --- a healthy staging, faked -------------------------------------------------------------


@dataclass
class Site:
    """Fake app nodes, Patroni members, HTTPS VIP and S3 for `staging`, all healthy to begin with."""

    apps: list[FakeServer]
    patroni: list[FakeServer]
    vip: FakeServer
    s3: FakeServer
    pki: Pki
    secrets: Secrets = field(default_factory=lambda: Secrets(s3_access_key=ACCESS, s3_secret_key=SECRET))

    def targets(self, **changes: Any) -> Targets:
        values: dict[str, Any] = {
            "environment": "staging",
            "app_nodes": [app.endpoint(f"stg-app{i}") for i, app in enumerate(self.apps, 1)],
            "vip": self.vip.endpoint("vip"),
            "site_host": SITE,
            "ca_pem": self.pki.ca_pem,
            "patroni": [db.endpoint(f"stg-db{i}") for i, db in enumerate(self.patroni, 1)],
            "expected_replicas": 2,
            "max_lag_bytes": 16777216,
            "s3": self.s3.endpoint("s3"),
            "bucket": "mattermost",
            "secrets": self.secrets,
        }
        values.update(changes)
        return Targets(**values)

    def all(self) -> list[FakeServer]:
        return [*self.apps, *self.patroni, self.vip, self.s3]


def app_routes(ping: str = "ping_ok.json", cluster: str = "cluster_status_ok.json") -> dict[str, Route]:
    status = 200 if ping == "ping_ok.json" else 500
    return {
        checks.PING: json_route(recorded(ping), status, **{"X-Version-Id": "10.5.2.123.abc.true"}),
        checks.CLUSTER_STATUS: json_route(recorded(cluster)),
    }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    pki = make_pki(tmp_path)
    patroni = {"/cluster": json_route(recorded("patroni_cluster_ok.json"))}
    made = Site(
        apps=[FakeServer(app_routes()).start() for _ in range(2)],
        patroni=[FakeServer(dict(patroni)).start() for _ in range(3)],
        vip=FakeServer({"/api/v4/system/ping": json_route(b'{"status":"OK"}')}, tls=pki.server).start(),
        s3=FakeServer(handler=FakeS3()).start(),
        pki=pki,
    )
    yield made
    for server in made.all():
        server.stop()


def by_name(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


# --- the checks ---------------------------------------------------------------------------


def test_a_healthy_environment_passes_every_check(site: Site) -> None:
    report = run_checks(site.targets(), checks.default_checks(timeout=5))
    assert report.healthy, output.text(report)
    found = by_name(report)
    assert list(found) == ["app-ping", "cluster", "vip", "database", "storage"]
    assert all(c.status is Status.OK for c in report.checks)
    assert [r.target for r in found["cluster"].results] == ["stg-app1", "stg-app2", "agreement"]
    assert [r.status for r in found["database"].results] == [Status.OK] * 4
    # The storage check cleaned up after itself.
    assert site.s3.handler is not None
    assert isinstance(site.s3.handler, FakeS3)
    assert site.s3.handler.objects == {}
    assert [m for m, _, _ in site.s3.requests] == ["PUT", "GET", "DELETE"]


def test_an_unhealthy_database_on_one_node_fails_the_ping(site: Site) -> None:
    site.apps[1].routes.update(app_routes(ping="ping_db_unhealthy.json"))
    result = checks.AppPing(5).run(site.targets())
    assert [r.status for r in result] == [Status.OK, Status.FAIL]
    assert "database_status UNHEALTHY" in result[1].summary
    assert "HTTP 500" in result[1].summary


def test_a_node_that_is_down_fails_without_hiding_the_others(site: Site) -> None:
    site.apps[0].stop()
    result = checks.AppPing(2).run(site.targets())
    assert [r.status for r in result] == [Status.FAIL, Status.OK]
    assert "no answer" in result[0].summary
    # Cluster status falls back to the next node.
    cluster = checks.ClusterStatus(2).run(site.targets())
    assert cluster[-1].status is Status.OK
    site.apps[0] = FakeServer(app_routes()).start()  # the fixture stops every server


def test_version_and_config_drift_and_a_dead_member_fail_the_cluster(site: Site) -> None:
    for app in site.apps:
        app.routes.update(app_routes(cluster="cluster_status_drift.json"))
    results = {r.target: r for r in checks.ClusterStatus(5).run(site.targets())}
    assert results["stg-app1"].status is Status.OK
    assert results["stg-app2"].status is Status.FAIL
    assert "NOT alive" in results["stg-app2"].summary
    agreement = results["agreement"].summary
    assert "2 versions: 10.5.2, 10.5.3" in agreement
    assert "2 config hashes" in agreement


def test_a_node_missing_from_the_cluster_is_named(site: Site) -> None:
    one = json.dumps(json.loads(recorded("cluster_status_ok.json"))[:1]).encode()
    for app in site.apps:
        app.routes[checks.CLUSTER_STATUS] = json_route(one)
    agreement = checks.ClusterStatus(5).run(site.targets())[-1]
    assert agreement.status is Status.FAIL
    assert agreement.summary == "missing stg-app2"


def test_cluster_status_without_admin_rights_says_what_is_needed(site: Site) -> None:
    for app in site.apps:
        app.routes[checks.CLUSTER_STATUS] = json_route(b'{"id":"api.context.permissions.app_error"}', 403)
    result = checks.ClusterStatus(5).run(site.targets())
    assert len(result) == 1
    assert result[0].status is Status.FAIL
    assert "system admin's token" in result[0].summary


def test_cluster_status_sends_the_token_when_the_vault_has_one(site: Site) -> None:
    token = Secrets(mattermost_token="tok3n")  # noqa: S106 - a fake
    targets = site.targets(secrets=token)
    checks.ClusterStatus(5).run(targets)
    sent = [headers for _, path, headers in site.apps[0].requests if path == checks.CLUSTER_STATUS]
    assert sent[0]["Authorization"] == "Bearer tok3n"


def test_clustering_switched_off_is_a_failure(site: Site) -> None:
    for app in site.apps:
        app.routes[checks.CLUSTER_STATUS] = json_route(b"[]")
    result = checks.ClusterStatus(5).run(site.targets())
    assert result[0].status is Status.FAIL
    assert "no cluster" in result[0].summary


def test_the_vip_certificate_must_come_from_the_environment_ca(site: Site, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "..", host=SITE)  # same name, another CA
    result = checks.VipHttps(5).run(site.targets(ca_pem=other.ca_pem))
    assert result[0].status is Status.FAIL
    assert "certificate not trusted" in result[0].summary


def test_the_vip_certificate_must_name_the_site(site: Site) -> None:
    result = checks.VipHttps(5).run(site.targets(site_host="other.example.internal"))
    assert result[0].status is Status.FAIL
    assert "certificate not trusted" in result[0].summary


def test_no_ca_means_failure_not_an_insecure_check(site: Site) -> None:
    result = checks.VipHttps(5).run(site.targets(ca_pem=None))
    assert result[0].status is Status.FAIL
    assert "will not check insecurely" in result[0].summary
    assert site.vip.requests == []


def test_a_lagging_replica_fails_the_database(site: Site) -> None:
    for db in site.patroni:
        db.routes["/cluster"] = json_route(recorded("patroni_cluster_degraded.json"))
    results = {r.target: r for r in checks.Database(5).run(site.targets())}
    assert results["stg-db3 (10.213.2.33)"].status is Status.FAIL
    assert "lag 536870912 bytes > 16777216" in results["stg-db3 (10.213.2.33)"].summary
    assert results["stg-db1 (10.213.2.31)"].status is Status.OK


def test_no_leader_fails_the_database(site: Site) -> None:
    body = json.loads(recorded("patroni_cluster_ok.json"))
    body["members"][0].update(role="replica", state="stopped")
    for db in site.patroni:
        db.routes["/cluster"] = json_route(json.dumps(body).encode())
    results = {r.target: r for r in checks.Database(5).run(site.targets())}
    assert results["topology"].status is Status.FAIL
    assert results["topology"].summary.startswith("0 leader(s)")


def test_a_patroni_api_down_is_reported_but_another_member_answers(site: Site) -> None:
    site.patroni[0].stop()
    results = checks.Database(2).run(site.targets())
    assert results[0].status is Status.FAIL
    assert results[0].target.startswith("stg-db1")
    assert results[-1].status is Status.OK  # the topology as the others see it
    site.patroni[0] = FakeServer({"/cluster": json_route(recorded("patroni_cluster_ok.json"))}).start()


def test_wrong_s3_keys_fail_the_storage_check(site: Site) -> None:
    wrong = Secrets(s3_access_key=ACCESS, s3_secret_key="wrong")  # noqa: S106 - a fake
    result = checks.Storage(5).run(site.targets(secrets=wrong))
    assert result[0].status is Status.FAIL
    assert "PUT answered HTTP 403" in result[0].summary


def test_storage_is_skipped_when_not_s3(site: Site) -> None:
    result = checks.Storage(5).run(site.targets(s3=None))
    assert result[0].status is Status.SKIP


def test_a_hanging_service_costs_its_timeout_not_the_whole_run(site: Site) -> None:
    site.patroni[0].delay = site.patroni[1].delay = site.patroni[2].delay = 3
    started = time.monotonic()
    report = run_checks(site.targets(), checks.default_checks(timeout=1))
    elapsed = time.monotonic() - started
    assert elapsed < 3
    found = by_name(report)
    assert found["database"].status is Status.FAIL
    assert "no answer within 1s" in found["database"].results[0].summary
    assert found["app-ping"].status is Status.OK
    assert not report.healthy


def test_checks_run_concurrently(site: Site) -> None:
    for server in site.all():
        server.delay = 0.6
    started = time.monotonic()
    report = run_checks(site.targets(), checks.default_checks(timeout=5))
    # Five checks, each needing one to three sequential round trips of 0.6 s.
    assert time.monotonic() - started < 2.5
    assert report.healthy


@dataclass
class Broken:
    name: str = "broken"
    title: str = "a check with a bug"
    timeout: float = 1.0

    def run(self, targets: Targets) -> list[Result]:
        raise KeyError(targets.environment)


def test_a_crashing_check_is_reported_and_the_others_still_run(site: Site) -> None:
    report = run_checks(site.targets(), [Broken(), checks.AppPing(5)])
    found = by_name(report)
    assert found["broken"].status is Status.FAIL
    assert "KeyError" in found["broken"].results[0].summary
    assert found["app-ping"].status is Status.OK


# --- targets and output -------------------------------------------------------------------


def test_targets_come_from_the_topology() -> None:
    env = load_environment("staging", None)
    targets = targets_for(env.topology, Secrets(), ca_pem="PEM")
    assert [str(n) for n in targets.app_nodes] == ["10.213.2.21:8065", "10.213.2.22:8065"]
    assert targets.vip == Endpoint("vip", "10.213.2.10", 443)
    assert targets.site_host == SITE
    assert [str(p) for p in targets.patroni] == ["10.213.2.31:8008", "10.213.2.32:8008", "10.213.2.33:8008"]
    assert targets.expected_replicas == 2
    assert targets.s3 == Endpoint("s3", "10.213.2.10", 8333)


def test_target_ports_match_the_rendered_ones() -> None:
    from deployer.health import targets  # noqa: PLC0415

    assert PORTS["mattermost_http"] == targets.APP_HTTP_PORT
    assert PORTS["patroni_api"] == targets.PATRONI_API_PORT
    assert PORTS["haproxy_s3"] == targets.S3_VIP_PORT
    assert PORTS["haproxy_https"] == targets.HTTPS_PORT


def test_text_output_has_a_table_per_check_and_a_verdict(site: Site) -> None:
    site.apps[1].routes.update(app_routes(ping="ping_db_unhealthy.json"))
    text = output.text(run_checks(site.targets(), checks.default_checks(timeout=5)))
    lines = text.splitlines()
    assert lines[0] == "health of staging"
    assert any(line.startswith("app nodes: ping with database and file store  [FAIL,") for line in lines)
    assert "  TARGET" in text
    assert lines[-1].startswith("UNHEALTHY: 1 of 5 checks failing (app-ping)")


def test_json_output_carries_every_result(site: Site) -> None:
    data = json.loads(output.as_json(run_checks(site.targets(), checks.default_checks(timeout=5))))
    assert data["healthy"] is True
    assert [c["name"] for c in data["checks"]] == ["app-ping", "cluster", "vip", "database", "storage"]
    first = data["checks"][0]["results"][0]
    assert first["status"] == "ok"
    assert first["details"]["database_status"] == "OK"


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli_site(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """`deployer health -e staging` aimed at the fake site (the vault and the addresses replaced)."""
    import deployer.health.readiness as readiness_module  # noqa: PLC0415
    import deployer.health.targets as targets_module  # noqa: PLC0415
    import deployer.secrets as secrets_module  # noqa: PLC0415

    vault = SimpleNamespace(
        s3_access_key=ACCESS, s3_secret_key=SECRET, ca=SimpleNamespace(cert=site.pki.ca_pem)
    )
    monkeypatch.setattr(secrets_module, "load_secrets", lambda _env: vault)

    def fake_targets(topology: Any, secrets: Secrets, ca_pem: str | None) -> Targets:
        assert topology.name == "staging"
        return site.targets(secrets=secrets, ca_pem=ca_pem)

    monkeypatch.setattr(targets_module, "targets_for", fake_targets)
    # The fake site has no hosts to SSH into: only the app-tier checks (and failover readiness).
    monkeypatch.setattr(readiness_module, "extra_checks", lambda *_args, **_kwargs: [])
    monkeypatch.setitem(COMMANDS, "health", ("deployer.cli.health", "health"))
    return site


def test_command_exits_0_when_healthy(cli_site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    del cli_site
    assert main(["health", "-e", "staging", "--timeout", "5"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("healthy: 6 checks passed")


def test_command_exits_3_when_a_check_fails(cli_site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    cli_site.s3.handler = FakeS3(secret="rotated")  # noqa: S106 - a fake
    assert main(["health", "-e", "staging", "--format", "json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["healthy"] is False
    assert [c["name"] for c in data["checks"] if c["status"] == "fail"] == ["storage"]
