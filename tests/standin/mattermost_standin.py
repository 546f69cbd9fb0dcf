#!/usr/bin/python3
"""TEST DOUBLE standing in for the Mattermost server binary (`bin/mattermost`) in the deployer's tests.

This is NOT Mattermost. It mimics only what the deployer depends on: the `version` and
`db migrate` commands, config.json plus `MM_<SECTION>_<KEY>` overrides, schema migrations
in `db_migrations` under a PostgreSQL advisory lock, registration in `ClusterDiscovery`,
`/api/v4/system/ping` (with `get_server_status`), `/api/v4/cluster/status`, posts and files
stored through PostgreSQL and S3 (or a local directory), a Prometheus `/metrics`,
`Type=notify` readiness and a graceful SIGTERM. There is no authentication and no
permission check at all: every request is served as one fixed user. Every HTTP answer
carries `X-Standin: test-double`. Needs Python 3.11 and psycopg2 (only for the server and
`db` commands, so `mattermost version` runs on a bare python3).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TextIO, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# build_tarball.py rewrites these three lines when it packages a release.
STANDIN_VERSION = "0.0.0"
STANDIN_BUILD_NUMBER = "0"
STANDIN_BROKEN = False

_T = TypeVar("_T")
STANDIN_HEADER = ("X-Standin", "test-double")
CLUSTER_TYPE_APP = "mattermost_cluster"
HEARTBEAT_SECONDS = 5.0
# Upstream's console shows a node as dead once it missed two pings 15 s apart.
ALIVE_WITHIN_MS = 15_000
# Upstream drops ClusterDiscovery rows that have not pinged for this long.
DISCOVERY_CLEANUP_AFTER_MS = 30 * 60 * 1000
MIGRATION_LOCK_KEY = 0x4D4D5F5354414E44
DB_PING_ATTEMPTS = 5
DB_PING_RETRY_SECONDS = 2.0
MAX_POST_RUNES = 16383
STANDIN_USER_ID = "standin0testdouble00user00"
ID_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
ID_RE = re.compile(r"^[a-z0-9]{26}$")
VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
STATUS_OK = "OK"
STATUS_UNHEALTHY = "UNHEALTHY"

# Shipped as config/config.json by build_tarball.py and used as defaults for missing keys.
DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "ServiceSettings": {
        "SiteURL": "",
        "ListenAddress": ":8065",
        "ConnectionSecurity": "",
        "TLSCertFile": "",
        "TLSKeyFile": "",
        "ReadTimeout": 300,
        "WriteTimeout": 300,
        "IdleTimeout": 60,
        "MaximumLoginAttempts": 10,
        "GoroutineHealthThreshold": -1,
        "EnableLinkPreviews": True,
        "EnableGifPicker": True,
        "EnableSecurityFixAlert": True,
        "EnableDeveloper": False,
        "AllowCorsFrom": "",
        "EnableLocalMode": False,
        "LocalModeSocketLocation": "/var/tmp/mattermost_local.socket",
    },
    "TeamSettings": {
        "SiteName": "Mattermost",
        "MaxUsersPerTeam": 50,
        "EnableOpenServer": False,
    },
    "SqlSettings": {
        "DriverName": "postgres",
        "DataSource": (
            "postgres://mmuser:mostest@localhost/mattermost_test"
            "?sslmode=disable&connect_timeout=10&binary_parameters=yes"
        ),
        "DataSourceReplicas": [],
        "DataSourceSearchReplicas": [],
        "MaxIdleConns": 20,
        "ConnMaxLifetimeMilliseconds": 3600000,
        "ConnMaxIdleTimeMilliseconds": 300000,
        "MaxOpenConns": 300,
        "Trace": False,
        "AtRestEncryptKey": "",
        "QueryTimeout": 30,
        "DisableDatabaseSearch": False,
        "MigrationsStatementTimeoutSeconds": 100000,
        "ReplicaLagSettings": [],
        "ReplicaMonitorIntervalSeconds": 5,
    },
    "LogSettings": {
        "EnableConsole": True,
        "ConsoleLevel": "DEBUG",
        "ConsoleJson": True,
        "EnableColor": False,
        "EnableFile": True,
        "FileLevel": "INFO",
        "FileJson": True,
        "FileLocation": "",
        "EnableDiagnostics": False,
    },
    "FileSettings": {
        "EnableFileAttachments": True,
        "EnableMobileUpload": True,
        "EnableMobileDownload": True,
        "MaxFileSize": 104857600,
        "DriverName": "local",
        "Directory": "./data/",
        "EnablePublicLink": False,
        "AmazonS3AccessKeyId": "",
        "AmazonS3SecretAccessKey": "",
        "AmazonS3Bucket": "",
        "AmazonS3PathPrefix": "",
        "AmazonS3Region": "",
        "AmazonS3Endpoint": "s3.amazonaws.com",
        "AmazonS3SSL": True,
        "AmazonS3SignV2": False,
        "AmazonS3SSE": False,
        "AmazonS3Trace": False,
        "AmazonS3RequestTimeoutMilliseconds": 30000,
    },
    "EmailSettings": {
        "EnableSignUpWithEmail": True,
        "SendEmailNotifications": False,
        "SendPushNotifications": False,
        "PushNotificationServer": "",
    },
    "ClusterSettings": {
        "Enable": False,
        "ClusterName": "",
        "OverrideHostname": "",
        "NetworkInterface": "",
        "BindAddress": "",
        "AdvertiseAddress": "",
        "UseIPAddress": True,
        "EnableGossipCompression": True,
        "EnableExperimentalGossipEncryption": False,
        "ReadOnlyConfig": True,
        "GossipPort": 8074,
    },
    "MetricsSettings": {
        "Enable": False,
        "BlockProfileRate": 0,
        "ListenAddress": ":8067",
    },
    "JobSettings": {
        "RunJobs": True,
        "RunScheduler": True,
    },
    "PluginSettings": {
        "Enable": True,
        "EnableUploads": False,
        "Directory": "./plugins",
        "ClientDirectory": "./client/plugins",
        "EnableMarketplace": False,
        "EnableRemoteMarketplace": False,
        "AutomaticPrepackagedPlugins": True,
    },
    "AnnouncementSettings": {
        "AdminNoticesEnabled": False,
        "UserNoticesEnabled": False,
    },
}

# Upstream's config hash is the md5 of the client config, so settings a client never sees
# (listen addresses, database, storage, cluster, logging) may differ between nodes.
HASH_EXCLUDED_SECTIONS = frozenset(
    {"SqlSettings", "ClusterSettings", "MetricsSettings", "LogSettings", "JobSettings"}
)
HASH_EXCLUDED_KEYS = frozenset(
    {
        ("ServiceSettings", "ListenAddress"),
        ("ServiceSettings", "TLSCertFile"),
        ("ServiceSettings", "TLSKeyFile"),
        ("FileSettings", "DriverName"),
        ("FileSettings", "Directory"),
    }
)

# Keywords libpq understands; lib/pq-only ones such as binary_parameters would make it fail.
LIBPQ_URI_PARAMS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "passfile",
        "sslcert",
        "sslcompression",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslpassword",
        "sslrootcert",
        "target_session_attrs",
        "tcp_user_timeout",
    }
)


class StandinError(Exception):
    """A problem the server reports and, at start-up, exits on."""


class FileStoreError(StandinError):
    """The file store refused or failed an operation."""


class FileNotFoundInStoreError(FileStoreError):
    """The object or file is not in the store."""


# ---------------------------------------------------------------------------------------------
# Identity and versions


def new_id(raw: bytes | None = None) -> str:
    """Return a 26-character id encoded like upstream's model.NewId."""
    data = raw if raw is not None else os.urandom(16)
    encoded = base64.b32encode(data[:16]).decode("ascii").rstrip("=").lower()
    return encoded.translate(str.maketrans("abcdefghijklmnopqrstuvwxyz234567", ID_ALPHABET))


def parse_version(version: str) -> tuple[int, int, int]:
    match = VERSION_RE.match(version)
    if match is None:
        raise ValueError(f"version must look like X.Y.Z, got {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def build_hash() -> str:
    return hashlib.sha1(  # noqa: S324 - an identifier, like upstream's git hash, not security
        f"{STANDIN_VERSION}/{STANDIN_BROKEN}".encode()
    ).hexdigest()


def version_text() -> str:
    variant = (
        "broken build: its deep health check always answers UNHEALTHY" if STANDIN_BROKEN else "normal build"
    )
    return "\n".join(
        [
            f"Version: {STANDIN_VERSION}",
            f"Build Number: {STANDIN_BUILD_NUMBER}",
            "Build Date: Thu Jan  1 00:00:00 UTC 1970",
            f"Build Hash: {build_hash()}",
            "Build Enterprise Ready: true",
            f"Test Double: yes, the deployer's stand-in, not a Mattermost server ({variant})",
        ]
    )


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------
# Configuration


def install_dir() -> Path:
    """The working directory when it holds config/, else the parent of bin/.

    Upstream searches the working directory before the binary's location, and a symlinked
    /opt/mattermost must stay as given, so the path is made absolute but not resolved.
    """
    cwd = Path.cwd()
    if (cwd / "config" / "config.json").is_file():
        return cwd
    return Path(__file__).absolute().parent.parent


def _parse_go_bool(value: str) -> bool | None:
    if value in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if value in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    return None


def _convert_env_value(current: object, value: str) -> tuple[bool, object]:
    """Convert like upstream's applyEnvKey: by the type of the value being replaced."""
    if isinstance(current, bool):
        parsed = _parse_go_bool(value)
        return (parsed is not None, parsed)
    if isinstance(current, int):
        try:
            return True, int(value, 10)
        except ValueError:
            return False, None
    if isinstance(current, list):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed_list = json.loads(stripped)
            except json.JSONDecodeError:
                return False, None
            return isinstance(parsed_list, list), parsed_list
        # Upstream splits list values on single spaces.
        return True, value.split(" ")
    if isinstance(current, dict):
        try:
            parsed_map = json.loads(value)
        except json.JSONDecodeError:
            return False, None
        return isinstance(parsed_map, dict), parsed_map
    return True, value


def _apply_env_key(key: str, value: str, node: dict[str, Any]) -> bool:
    head, _, rest = key.partition("_")
    for name, current in node.items():
        if name.upper() != head:
            continue
        if isinstance(current, dict) and rest:
            return _apply_env_key(rest, value, current)
        if isinstance(current, dict) or rest:
            return False
        ok, converted = _convert_env_value(current, value)
        if ok:
            node[name] = converted
        return ok
    return False


def apply_env_overrides(config: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Apply MM_<SECTION>_<KEY> variables in place; return the names that took effect."""
    applied = []
    for raw_name, value in sorted(env.items()):
        name = raw_name.upper()
        if not name.startswith("MM_") or name == "MM_CONFIG":
            continue
        if _apply_env_key(name.removeprefix("MM_"), value, config):
            applied.append(name)
    return applied


def merge_defaults(loaded: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = copy.deepcopy(DEFAULT_CONFIG)
    for section, values in loaded.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(copy.deepcopy(values))
        else:
            merged[section] = copy.deepcopy(values)
    return merged


def is_dsn(value: str) -> bool:
    return value.startswith(("postgres://", "postgresql://"))


def default_config_path() -> Path:
    return install_dir() / "config" / "config.json"


def read_config_source(source: str) -> dict[str, Any]:
    """Read config.json, or the active row of upstream's Configurations table for a DSN."""
    if is_dsn(source):
        return _read_database_config(source)
    path = Path(source)
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StandinError(f"config file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise StandinError(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise StandinError(f"config file {path} must hold a JSON object")
    return loaded


def _read_database_config(dsn: str) -> dict[str, Any]:
    psycopg2 = _import_psycopg2()
    conn = psycopg2.connect(libpq_dsn(dsn))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS configurations (id varchar(26) PRIMARY KEY,"
                " value text NOT NULL, createat bigint NOT NULL, active boolean)"
            )
            cur.execute("SELECT value FROM configurations WHERE active ORDER BY createat DESC LIMIT 1")
            row = cur.fetchone()
            if row is None:
                # Upstream seeds an empty database store with the default configuration.
                cur.execute(
                    "INSERT INTO configurations (id, value, createat, active) VALUES (%s, %s, %s, true)",
                    (new_id(), json.dumps(DEFAULT_CONFIG), now_ms()),
                )
                return copy.deepcopy(DEFAULT_CONFIG)
            loaded = json.loads(row[0])
    finally:
        conn.close()
    if not isinstance(loaded, dict):
        raise StandinError("the active configuration in the database is not a JSON object")
    return loaded


def load_config(source: str | None, env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Return the effective config (file or DB, defaults, environment) and the env names used."""
    chosen = source or env.get("MM_CONFIG") or str(default_config_path())
    config = merge_defaults(read_config_source(chosen))
    applied = apply_env_overrides(config, env)
    return config, applied


def config_hash(config: Mapping[str, Any]) -> str:
    visible: dict[str, Any] = {}
    for section, values in config.items():
        if section in HASH_EXCLUDED_SECTIONS:
            continue
        if isinstance(values, dict):
            visible[section] = {
                key: value
                for key, value in values.items()
                if (section, key) not in HASH_EXCLUDED_KEYS and not key.startswith("AmazonS3")
            }
        else:
            visible[section] = values
    canonical = json.dumps(visible, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(canonical.encode()).hexdigest()  # noqa: S324 - upstream uses md5 here


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split ":8065", "127.0.0.1:8065" or "[::1]:8065" into a bind host and a port."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise StandinError(f"listen address {value!r} must look like ':8065' or 'ADDR:PORT'")
    return host.removeprefix("[").removesuffix("]"), int(port)


def libpq_dsn(dsn: str) -> str:
    """Drop query parameters libpq rejects (upstream's Go drivers accept more of them)."""
    if not is_dsn(dsn):
        return dsn
    parts = urllib.parse.urlsplit(dsn)
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if key in LIBPQ_URI_PARAMS
    ]
    if not any(key == "connect_timeout" for key, _ in query):
        # A dead database must make health checks fail, not hang.
        query.append(("connect_timeout", "10"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def redact_dsn(dsn: str) -> str:
    if not is_dsn(dsn):
        return "<key=value DSN>"
    parts = urllib.parse.urlsplit(dsn)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}:***@{host}{port}{parts.path}"


# ---------------------------------------------------------------------------------------------
# Logging


LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


class Journal:
    """JSON-lines journal writing to stdout and logs/mattermost.log like upstream's defaults."""

    def __init__(self, log_settings: Mapping[str, Any], base_dir: Path) -> None:
        self._lock = threading.Lock()
        self._console = bool(log_settings.get("EnableConsole", True))
        self._console_level = LEVELS.get(str(log_settings.get("ConsoleLevel", "")).lower(), 10)
        self._file_level = LEVELS.get(str(log_settings.get("FileLevel", "")).lower(), 20)
        self._file: TextIO | None = None
        if log_settings.get("EnableFile", True):
            location = str(log_settings.get("FileLocation") or "")
            directory = Path(location) if location else base_dir / "logs"
            path = directory if directory.suffix == ".log" else directory / "mattermost.log"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise StandinError(f"cannot open the log file {path}: {exc}") from exc

    def log(self, level: str, msg: str, **fields: object) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " Z"
        record: dict[str, object] = {"timestamp": stamp, "level": level, "msg": msg, "caller": "standin"}
        record.update(fields)
        line = json.dumps(record, default=str)
        severity = LEVELS[level]
        with self._lock:
            if self._console and severity >= self._console_level:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            if self._file is not None and severity >= self._file_level:
                self._file.write(line + "\n")
                self._file.flush()

    def debug(self, msg: str, **fields: object) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: object) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, **fields: object) -> None:
        self.log("warn", msg, **fields)

    def error(self, msg: str, **fields: object) -> None:
        self.log("error", msg, **fields)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# ---------------------------------------------------------------------------------------------
# Database


def _import_psycopg2() -> Any:
    try:
        import psycopg2  # noqa: PLC0415 - only the server needs it; `version` must run without
    except ImportError as exc:
        raise StandinError(
            "psycopg2 is missing: install python3-psycopg2 (Debian) or psycopg2-binary"
        ) from exc
    return psycopg2


class ConnectionPool:
    """Idle connections kept up to MaxIdleConns, open ones capped at MaxOpenConns, like Go's."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        max_idle: int,
        max_open: int,
        wait_seconds: float,
    ) -> None:
        self._connect = connect
        self._max_idle = max_idle
        self._slots = threading.BoundedSemaphore(max_open)
        self._wait_seconds = wait_seconds
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @property
    def max_idle(self) -> int:
        return self._max_idle

    def acquire(self) -> Any:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise StandinError("all MaxOpenConns database connections are busy")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._connect()
                conn.autocommit = True
            except BaseException:
                self._slots.release()
                raise
        return conn

    def release(self, conn: Any, *, keep: bool) -> None:
        try:
            with self._lock:
                if keep and not conn.closed and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    return
            conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Database:
    """Connection pools for the writer (DataSource) and readers (DataSourceReplicas)."""

    def __init__(self, sql_settings: Mapping[str, Any], journal: Journal) -> None:
        self._psycopg2 = _import_psycopg2()
        self._journal = journal
        writer = str(sql_settings.get("DataSource") or "")
        if not writer:
            raise StandinError("SqlSettings.DataSource is empty")
        replicas = [str(dsn) for dsn in sql_settings.get("DataSourceReplicas") or [] if dsn]
        self._max_open = max(2, int(sql_settings.get("MaxOpenConns") or 300))
        self._max_idle = max(0, min(int(sql_settings.get("MaxIdleConns") or 20), self._max_open))
        timeout_ms = int(sql_settings.get("QueryTimeout") or 30) * 1000
        self._options = f"-c statement_timeout={timeout_ms}"
        # Waiting for another node's migrations must not hit the ordinary query timeout.
        migration_ms = int(sql_settings.get("MigrationsStatementTimeoutSeconds") or 100000) * 1000
        self._migration_options = f"-c statement_timeout={migration_ms}"
        self._query_seconds = timeout_ms / 1000
        self.writer_dsn = writer
        self._writer_pool = self._make_pool(writer)
        self._replica_pools = [(dsn, self._make_pool(dsn)) for dsn in replicas]
        self._replica_down_until: dict[str, float] = {}
        self._monitor_seconds = float(sql_settings.get("ReplicaMonitorIntervalSeconds") or 5)
        self._next_replica = 0
        self._lock = threading.Lock()

    def _make_pool(self, dsn: str) -> ConnectionPool:
        target = libpq_dsn(dsn)
        return ConnectionPool(
            lambda: self._psycopg2.connect(target, options=self._options),
            max_idle=self._max_idle,
            max_open=self._max_open,
            wait_seconds=self._query_seconds,
        )

    def connect_direct(self) -> Any:
        """A connection outside the pools, for session-scoped work such as advisory locks."""
        return self._psycopg2.connect(libpq_dsn(self.writer_dsn), options=self._migration_options)

    def _run(self, pool: ConnectionPool, work: Callable[[Any], _T]) -> _T:
        """Run work on a pooled connection, retrying over connections the server dropped.

        Go's database/sql does the same, so a database restart or failover costs a real node
        no failed request for each stale connection it had pooled.
        """
        errors = (self._psycopg2.OperationalError, self._psycopg2.InterfaceError)
        for _ in range(pool.max_idle + 1):
            conn = pool.acquire()  # a fresh connect that fails raises from here, no retry
            keep = False
            try:
                result = work(conn)
                keep = True
            except errors:
                # Only a dropped connection is worth another try; other errors are real.
                if not conn.closed:
                    raise
            finally:
                pool.release(conn, keep=keep)
            if keep:
                return result
        raise StandinError("every pooled database connection was dropped")

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        def work(conn: Any) -> int:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return int(cur.rowcount)

        return self._run(self._writer_pool, work)

    def query(
        self, sql: str, params: tuple[object, ...] = (), *, writer: bool = False
    ) -> list[tuple[Any, ...]]:
        if writer or not self._replica_pools:
            return self._query_on(self._writer_pool, sql, params)
        for dsn, pool in self._replica_order():
            try:
                return self._query_on(pool, sql, params)
            except self._psycopg2.OperationalError as exc:
                # Upstream's replica monitor takes an unreachable replica out of rotation.
                self._journal.warning(
                    "Replica unreachable, falling back", replica=redact_dsn(dsn), error=str(exc)
                )
                with self._lock:
                    self._replica_down_until[dsn] = time.monotonic() + self._monitor_seconds
        return self._query_on(self._writer_pool, sql, params)

    def _replica_order(self) -> list[tuple[str, ConnectionPool]]:
        with self._lock:
            now = time.monotonic()
            healthy = [
                (dsn, pool)
                for dsn, pool in self._replica_pools
                if self._replica_down_until.get(dsn, 0.0) <= now
            ]
            if not healthy:
                return []
            start = self._next_replica % len(healthy)
            self._next_replica += 1
        return healthy[start:] + healthy[:start]

    def _query_on(
        self,
        pool: ConnectionPool,
        sql: str,
        params: tuple[object, ...],
    ) -> list[tuple[Any, ...]]:
        def work(conn: Any) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

        return self._run(pool, work)

    def wait_until_reachable(self, stop: threading.Event) -> None:
        for attempt in range(1, DB_PING_ATTEMPTS + 1):
            try:
                self.query("SELECT 1", writer=True)
            except self._psycopg2.OperationalError as exc:
                self._journal.error(
                    "Failed to ping DB",
                    retrying_in_seconds=DB_PING_RETRY_SECONDS,
                    attempt=attempt,
                    error=str(exc).strip(),
                )
                if stop.wait(DB_PING_RETRY_SECONDS):
                    break
            else:
                return
        raise StandinError(f"could not reach the database at {redact_dsn(self.writer_dsn)}")

    def close(self) -> None:
        self._writer_pool.close()
        for _, pool in self._replica_pools:
            pool.close()


# ---------------------------------------------------------------------------------------------
# Migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


BASE_MIGRATIONS = (
    Migration(
        1,
        "create_systems",
        ("CREATE TABLE IF NOT EXISTS systems (name varchar(64) PRIMARY KEY, value varchar(1024))",),
    ),
    Migration(
        2,
        "create_posts",
        (
            (
                "CREATE TABLE IF NOT EXISTS posts (id varchar(26) PRIMARY KEY, createat bigint,"
                " updateat bigint, editat bigint, deleteat bigint, ispinned boolean,"
                " userid varchar(26), channelid varchar(26), rootid varchar(26),"
                " originalid varchar(26), message varchar(65535), type varchar(26),"
                " props jsonb, hashtags varchar(1000), filenames varchar(4000),"
                " fileids varchar(300), hasreactions boolean, remoteid varchar(26))"
            ),
            "CREATE INDEX IF NOT EXISTS idx_posts_channel_id_update_at ON posts (channelid, updateat)",
        ),
    ),
    Migration(
        3,
        "create_cluster_discovery",
        (
            (
                "CREATE TABLE IF NOT EXISTS clusterdiscovery (id varchar(26) PRIMARY KEY,"
                " type varchar(64), clustername varchar(64), hostname varchar(512),"
                " gossipport integer, port integer, createat bigint, lastpingat bigint)"
            ),
            # Not upstream: what a real node learns over gossip, kept here for cluster/status.
            (
                "CREATE TABLE IF NOT EXISTS standinclusternodes (id varchar(26) PRIMARY KEY,"
                " version varchar(64), schemaversion varchar(64), confighash varchar(64),"
                " ipaddress varchar(64), broken boolean)"
            ),
        ),
    ),
    Migration(
        4,
        "create_file_info",
        (
            (
                "CREATE TABLE IF NOT EXISTS fileinfo (id varchar(26) PRIMARY KEY,"
                " creatorid varchar(26), postid varchar(26), channelid varchar(26),"
                " createat bigint, updateat bigint, deleteat bigint, path varchar(512),"
                " thumbnailpath varchar(512), previewpath varchar(512), name varchar(256),"
                " extension varchar(64), size bigint, mimetype varchar(256))"
            ),
        ),
    ),
)


def release_migration(major: int, minor: int) -> Migration:
    """One migration per minor release, so minor upgrades migrate and patch upgrades do not."""
    return Migration(
        major * 1000 + minor,
        f"standin_release_{major}.{minor}",
        ("INSERT INTO systems (name, value) VALUES (%(name)s, %(value)s) ON CONFLICT (name) DO NOTHING",),
    )


def migrations_for(version: str) -> list[Migration]:
    major, minor, _ = parse_version(version)
    return [*BASE_MIGRATIONS, *(release_migration(major, m) for m in range(minor + 1))]


@dataclass
class MigrationResult:
    applied: list[Migration]
    unknown_versions: list[int]
    schema_version: int


def _ensure_migration_tables(cur: Any) -> None:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS db_migrations"
        " (version bigint NOT NULL PRIMARY KEY, name varchar NOT NULL)"
    )
    # Not upstream: an append-only log that lets tests prove each migration ran once.
    cur.execute(
        "CREATE TABLE IF NOT EXISTS standinmigrationruns (version bigint NOT NULL,"
        " name varchar NOT NULL, hostname varchar(512), serverversion varchar(64),"
        " appliedat bigint NOT NULL)"
    )


def pending_migrations(db: Database, version: str) -> list[Migration]:
    conn = db.connect_direct()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('db_migrations') IS NOT NULL")
            exists = bool(cur.fetchone()[0])
            applied: set[int] = set()
            if exists:
                cur.execute("SELECT version FROM db_migrations")
                applied = {int(row[0]) for row in cur.fetchall()}
        conn.rollback()
    finally:
        conn.close()
    return [m for m in migrations_for(version) if m.version not in applied]


def run_migrations(db: Database, version: str, hostname: str, journal: Journal) -> MigrationResult:
    """Apply the pending migrations; the advisory lock makes concurrent starters take turns."""
    conn = db.connect_direct()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            return _migrate_locked(conn, version, hostname, journal)
        finally:
            # Closing the session would release the lock too; unlocking is just tidier.
            with contextlib.suppress(Exception):
                conn.rollback()
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    finally:
        conn.close()


def _migrate_locked(
    conn: Any,
    version: str,
    hostname: str,
    journal: Journal,
) -> MigrationResult:
    with conn.cursor() as cur:
        _ensure_migration_tables(cur)
        cur.execute("SELECT version FROM db_migrations")
        applied_versions = {int(row[0]) for row in cur.fetchall()}
    known = migrations_for(version)
    known_versions = {m.version for m in known}
    unknown = sorted(applied_versions - known_versions)
    if unknown:
        journal.warning(
            "The database holds migrations this server does not know (a downgrade?)",
            unknown_versions=unknown,
        )
    applied: list[Migration] = []
    conn.autocommit = False
    for migration in known:
        if migration.version in applied_versions:
            continue
        journal.info("Applying migration", version=migration.version, name=migration.name)
        with conn.cursor() as cur:
            for statement in migration.statements:
                cur.execute(statement, {"name": migration.name, "value": version})
            cur.execute(
                "INSERT INTO db_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            cur.execute(
                "INSERT INTO standinmigrationruns"
                " (version, name, hostname, serverversion, appliedat)"
                " VALUES (%s, %s, %s, %s, %s)",
                (migration.version, migration.name, hostname, version, now_ms()),
            )
        conn.commit()
        applied.append(migration)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO systems (name, value) VALUES ('Version', %s)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            (version,),
        )
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM db_migrations")
        schema_version = int(cur.fetchone()[0])
    conn.commit()
    return MigrationResult(applied, unknown, schema_version)


# ---------------------------------------------------------------------------------------------
# File stores


class FileStore(Protocol):
    def write(self, path: str, data: bytes, content_type: str) -> None: ...

    def read(self, path: str) -> bytes: ...

    def remove(self, path: str) -> None: ...

    def test_connection(self) -> None: ...

    def prepare(self) -> None: ...


class LocalFileStore:
    """FileSettings.DriverName=local: files under Directory (relative to the working dir)."""

    def __init__(self, directory: str) -> None:
        self._root = Path(directory or "./data/")

    def _resolve(self, path: str) -> Path:
        target = (self._root / path).resolve()
        if not target.is_relative_to(self._root.resolve()):
            raise FileStoreError(f"path {path!r} escapes the file store")
        return target

    def write(self, path: str, data: bytes, content_type: str) -> None:  # noqa: ARG002
        target = self._resolve(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            raise FileStoreError(f"cannot write {target}: {exc}") from exc

    def read(self, path: str) -> bytes:
        try:
            return self._resolve(path).read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundInStoreError(path) from exc
        except OSError as exc:
            raise FileStoreError(f"cannot read {path}: {exc}") from exc

    def remove(self, path: str) -> None:
        try:
            self._resolve(path).unlink(missing_ok=True)
        except OSError as exc:
            raise FileStoreError(f"cannot remove {path}: {exc}") from exc

    def test_connection(self) -> None:
        # Upstream writes and removes a file named testfile.
        self.write("testfile", b"testingwrite", "text/plain")
        self.remove("testfile")

    def prepare(self) -> None:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileStoreError(f"cannot create {self._root}: {exc}") from exc


def sign_v4(
    *,
    method: str,
    canonical_uri: str,
    canonical_query: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    region: str,
    amz_date: str,
    service: str = "s3",
) -> str:
    """Return the Authorization header of AWS Signature Version 4 for the given request."""
    lowered = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    signed_names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed_names)
    signed_headers = ";".join(signed_names)
    request_parts = [
        method,
        canonical_uri,
        canonical_query,
        canonical_headers,
        signed_headers,
        payload_sha256,
    ]
    canonical_request = "\n".join(request_parts)
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


@dataclass(frozen=True)
class S3Settings:
    access_key: str
    secret_key: str
    bucket: str
    path_prefix: str
    region: str
    endpoint: str
    ssl: bool
    timeout_seconds: float

    @classmethod
    def from_file_settings(cls, fs: Mapping[str, Any]) -> S3Settings:
        return cls(
            access_key=str(fs.get("AmazonS3AccessKeyId") or ""),
            secret_key=str(fs.get("AmazonS3SecretAccessKey") or ""),
            bucket=str(fs.get("AmazonS3Bucket") or ""),
            path_prefix=str(fs.get("AmazonS3PathPrefix") or "").strip("/"),
            region=str(fs.get("AmazonS3Region") or "") or "us-east-1",
            endpoint=str(fs.get("AmazonS3Endpoint") or "s3.amazonaws.com"),
            ssl=bool(fs.get("AmazonS3SSL", True)),
            timeout_seconds=int(fs.get("AmazonS3RequestTimeoutMilliseconds") or 30000) / 1000,
        )


class S3Client:
    """A minimal path-style S3 client signing with SigV4 (what upstream's minio-go does)."""

    def __init__(self, settings: S3Settings) -> None:
        if "://" in settings.endpoint or "/" in settings.endpoint:
            # minio-go rejects a scheme or path here too; AmazonS3SSL picks http or https.
            raise FileStoreError(
                f"AmazonS3Endpoint must be HOST[:PORT] without scheme, got {settings.endpoint!r}"
            )
        self.settings = settings

    def request(
        self,
        method: str,
        key: str | None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> tuple[int, bytes]:
        s = self.settings
        path = "/" + urllib.parse.quote(s.bucket, safe="-_.~")
        if key is not None:
            path += "/" + urllib.parse.quote(key, safe="/-_.~")
        amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        payload_sha256 = hashlib.sha256(body).hexdigest()
        headers = {
            "Host": s.endpoint,
            "x-amz-content-sha256": payload_sha256,
            "x-amz-date": amz_date,
        }
        if content_type:
            headers["Content-Type"] = content_type
        headers["Authorization"] = sign_v4(
            method=method,
            canonical_uri=path,
            canonical_query="",
            headers=headers,
            payload_sha256=payload_sha256,
            access_key=s.access_key,
            secret_key=s.secret_key,
            region=s.region,
            amz_date=amz_date,
        )
        conn: http.client.HTTPConnection
        if s.ssl:
            conn = http.client.HTTPSConnection(
                s.endpoint, timeout=s.timeout_seconds, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(s.endpoint, timeout=s.timeout_seconds)
        try:
            conn.request(method, path, body=body if body or method == "PUT" else None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise FileStoreError(f"S3 {method} {path} failed: {exc}") from exc
        finally:
            conn.close()


class S3FileStore:
    """FileSettings.DriverName=amazons3 against any S3-compatible endpoint."""

    def __init__(self, settings: S3Settings, node_name: str) -> None:
        self._client = S3Client(settings)
        self._settings = settings
        self._node_name = node_name

    def _key(self, path: str) -> str:
        return f"{self._settings.path_prefix}/{path}" if self._settings.path_prefix else path

    @staticmethod
    def _fail(action: str, status: int, body: bytes) -> FileStoreError:
        detail = body[:300].decode("utf-8", "replace")
        return FileStoreError(f"S3 {action} answered {status}: {detail}")

    def write(self, path: str, data: bytes, content_type: str) -> None:
        status, body = self._client.request("PUT", self._key(path), data, content_type)
        if status != HTTPStatus.OK:
            raise self._fail("PUT", status, body)

    def read(self, path: str) -> bytes:
        status, body = self._client.request("GET", self._key(path))
        if status == HTTPStatus.NOT_FOUND:
            raise FileNotFoundInStoreError(path)
        if status != HTTPStatus.OK:
            raise self._fail("GET", status, body)
        return body

    def remove(self, path: str) -> None:
        status, body = self._client.request("DELETE", self._key(path))
        if status not in {HTTPStatus.OK, HTTPStatus.NO_CONTENT, HTTPStatus.NOT_FOUND}:
            raise self._fail("DELETE", status, body)

    def test_connection(self) -> None:
        probe = f"standin-healthcheck/{self._node_name}-{new_id()}"
        self.write(probe, b"testingwrite", "text/plain")
        self.remove(probe)

    def prepare(self) -> None:
        """Create the bucket when it is missing, as upstream does at start-up."""
        status, body = self._client.request("HEAD", None)
        if status == HTTPStatus.OK:
            return
        if status != HTTPStatus.NOT_FOUND:
            raise self._fail("HEAD bucket", status, body)
        payload = b""
        if self._settings.region != "us-east-1":
            payload = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{self._settings.region}</LocationConstraint>"
                "</CreateBucketConfiguration>"
            ).encode()
        status, body = self._client.request("PUT", None, payload)
        if status != HTTPStatus.OK:
            raise self._fail("PUT bucket", status, body)


def make_file_store(file_settings: Mapping[str, Any], node_name: str) -> FileStore:
    driver = str(file_settings.get("DriverName") or "local")
    if driver == "local":
        return LocalFileStore(str(file_settings.get("Directory") or "./data/"))
    if driver == "amazons3":
        return S3FileStore(S3Settings.from_file_settings(file_settings), node_name)
    raise StandinError(f"FileSettings.DriverName {driver!r} is not supported (local, amazons3)")


# ---------------------------------------------------------------------------------------------
# Cluster discovery


@dataclass
class NodeIdentity:
    id: str
    hostname: str
    cluster_name: str
    gossip_port: int
    http_port: int
    ip_address: str
    version: str
    schema_version: int
    config_hash: str


class ClusterRegistration:
    """Keeps this node's ClusterDiscovery row fresh while the server runs."""

    def __init__(self, db: Database, node: NodeIdentity, journal: Journal) -> None:
        self._db = db
        self._node = node
        self._journal = journal
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cluster-heartbeat", daemon=True)
        self._created = now_ms()

    def start(self) -> None:
        self._db.execute(
            "DELETE FROM clusterdiscovery WHERE lastpingat < %s",
            (now_ms() - DISCOVERY_CLEANUP_AFTER_MS,),
        )
        # A node killed without deregistering is replaced by its successor on the same host, as
        # the real server's gossip ring forgets a dead member: cluster status never shows both.
        self._db.execute(
            "DELETE FROM clusterdiscovery WHERE hostname = %s AND clustername = %s AND id <> %s",
            (self._node.hostname, self._node.cluster_name, self._node.id),
        )
        self._db.execute(
            "DELETE FROM standinclusternodes n WHERE NOT EXISTS"
            " (SELECT 1 FROM clusterdiscovery d WHERE d.id = n.id)"
        )
        self._register()
        self._thread.start()

    def _register(self) -> None:
        n = self._node
        self._db.execute(
            "INSERT INTO clusterdiscovery (id, type, clustername, hostname, gossipport, port,"
            " createat, lastpingat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET lastpingat = EXCLUDED.lastpingat",
            (
                n.id,
                CLUSTER_TYPE_APP,
                n.cluster_name,
                n.hostname,
                n.gossip_port,
                n.http_port,
                self._created,
                now_ms(),
            ),
        )
        self._db.execute(
            "INSERT INTO standinclusternodes (id, version, schemaversion, confighash, ipaddress,"
            " broken) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " version = EXCLUDED.version, schemaversion = EXCLUDED.schemaversion,"
            " confighash = EXCLUDED.confighash",
            (
                n.id,
                n.version,
                str(n.schema_version),
                n.config_hash,
                n.ip_address,
                STANDIN_BROKEN,
            ),
        )

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                updated = self._db.execute(
                    "UPDATE clusterdiscovery SET lastpingat = %s WHERE id = %s",
                    (now_ms(), self._node.id),
                )
                if updated == 0:
                    self._register()
            except Exception as exc:  # noqa: BLE001 - keep beating through database outages
                self._journal.warning("Cluster heartbeat failed", error=str(exc).strip())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 1)
        try:
            self._db.execute("DELETE FROM clusterdiscovery WHERE id = %s", (self._node.id,))
            self._db.execute("DELETE FROM standinclusternodes WHERE id = %s", (self._node.id,))
        except Exception as exc:  # noqa: BLE001 - shutting down anyway
            self._journal.warning("Could not deregister from ClusterDiscovery", error=str(exc))


class GossipListener:
    """Holds GossipPort open (TCP and UDP) so port and firewall checks see a live node.

    It speaks no memberlist protocol: real-time messages between nodes are not simulated.
    """

    def __init__(self, bind_address: str, port: int) -> None:
        self._tcp = socket.create_server((bind_address, port), reuse_port=False)
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((bind_address, port))
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._accept_loop, name="gossip-tcp", daemon=True),
            threading.Thread(target=self._udp_loop, name="gossip-udp", daemon=True),
        ]

    def start(self) -> None:
        self._tcp.settimeout(0.5)
        self._udp.settimeout(0.5)
        for thread in self._threads:
            thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    def _udp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._tcp.close()
        self._udp.close()


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=headers or {})


def app_error(status: int, error_id: str, message: str, detail: str = "") -> Response:
    return json_response(
        status,
        {
            "id": error_id,
            "message": message,
            "detailed_error": detail,
            "request_id": new_id(),
            "status_code": status,
        },
    )


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.posts = 0
        self.started = time.time()

    def count(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                self.errors += 1

    def count_post(self) -> None:
        with self._lock:
            self.posts += 1

    def render(self, version: str, node_id: str) -> str:
        with self._lock:
            rows = [
                ("mattermost_http_requests_total", "counter", "HTTP API requests.", self.requests),
                ("mattermost_http_errors_total", "counter", "HTTP 5xx answers.", self.errors),
                ("mattermost_post_total", "counter", "Posts created.", self.posts),
                (
                    "process_start_time_seconds",
                    "gauge",
                    "Start time of the process since unix epoch in seconds.",
                    self.started,
                ),
            ]
        lines = []
        for name, kind, help_text, value in rows:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        lines += [
            "# HELP mattermost_standin_info Marks this endpoint as the deployer's test double.",
            "# TYPE mattermost_standin_info gauge",
            (
                f'mattermost_standin_info{{version="{version}",node_id="{node_id}",'
                f'broken="{str(STANDIN_BROKEN).lower()}"}} 1'
            ),
        ]
        return "\n".join(lines) + "\n"


Route = tuple[str, "re.Pattern[str]", "Callable[[App, Request], Response]"]


class App:
    """The request handlers and the state they share."""

    ROUTES: ClassVar[list[Route]] = []

    def __init__(
        self,
        *,
        config: dict[str, Any],
        db: Database,
        store: FileStore,
        journal: Journal,
        node: NodeIdentity,
    ) -> None:
        self.config = config
        self.db = db
        self.store = store
        self.journal = journal
        self.node = node
        self.metrics = Metrics()
        self.client_dir = install_dir() / "client"

    # -- routing ------------------------------------------------------------------------------

    @classmethod
    def route(
        cls, method: str, pattern: str
    ) -> Callable[[Callable[[App, Request], Response]], Callable[[App, Request], Response]]:
        def register(
            handler: Callable[[App, Request], Response],
        ) -> Callable[[App, Request], Response]:
            cls.ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def dispatch(self, request: Request) -> Response:
        path_matched = False
        for method, pattern, handler in self.ROUTES:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.params = match.groupdict()
            return handler(self, request)
        if path_matched:
            return app_error(405, "api.context.405.app_error", "Method not allowed.")
        if request.path.startswith("/api/"):
            return app_error(404, "api.context.404.app_error", "Sorry, we could not find the page.")
        return self.index()

    def version_header(self) -> str:
        return f"{self.node.version}.{STANDIN_BUILD_NUMBER}.{self.node.config_hash}.false"

    def index(self) -> Response:
        try:
            body = (self.client_dir / "index.html").read_bytes()
        except OSError:
            body = b"<!doctype html><title>Mattermost stand-in</title><p>Test double.</p>"
        return Response(200, body, "text/html; charset=utf-8")

    # -- system ---------------------------------------------------------------------------------

    def check_database(self) -> bool:
        key = f"health_check_{self.node.id}"
        try:
            self.db.execute(
                "INSERT INTO systems (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (key, str(int(time.time()))),
            )
            self.db.execute("DELETE FROM systems WHERE name = %s", (key,))
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            self.journal.warning("Unable to write to database.", error=str(exc).strip())
            return False
        return True

    def check_file_store(self) -> bool:
        try:
            self.store.test_connection()
        except FileStoreError as exc:
            self.journal.warning("Unable to test filestore connection.", error=str(exc))
            return False
        return True


@App.route("GET", "/api/v4/system/ping")
def ping(app: App, request: Request) -> Response:
    payload: dict[str, object] = {
        "status": STATUS_OK,
        "version": app.node.version,
        "ActiveSearchBackend": "database",
        "standin": "test-double",
    }
    headers: dict[str, str] = {}
    if request.arg("get_server_status") == "true":
        db_ok = app.check_database() and not STANDIN_BROKEN
        store_ok = app.check_file_store()
        payload["database_status"] = STATUS_OK if db_ok else STATUS_UNHEALTHY
        payload["filestore_status"] = STATUS_OK if store_ok else STATUS_UNHEALTHY
        if not (db_ok and store_ok):
            payload["status"] = STATUS_UNHEALTHY
        headers = {
            "status": str(payload["status"]),
            "database_status": str(payload["database_status"]),
            "filestore_status": str(payload["filestore_status"]),
        }
    status = 200
    if payload["status"] != STATUS_OK and request.arg("use_rest_semantics") != "true":
        status = 500
    return json_response(status, payload, headers)


@App.route("GET", "/api/v4/cluster/status")
def cluster_status(app: App, _request: Request) -> Response:
    if not app.config["ClusterSettings"].get("Enable"):
        return json_response(200, [])
    rows = app.db.query(
        "SELECT d.id, d.hostname, d.lastpingat, n.version, n.schemaversion, n.confighash,"
        " n.ipaddress FROM clusterdiscovery d LEFT JOIN standinclusternodes n ON n.id = d.id"
        " WHERE d.type = %s AND d.clustername = %s ORDER BY d.createat, d.id",
        (CLUSTER_TYPE_APP, app.node.cluster_name),
        writer=True,
    )
    current = now_ms()
    return json_response(
        200,
        [
            {
                "id": node_id,
                "version": version or "",
                "schema_version": schema or "",
                "config_hash": chash or "",
                "ipaddress": ip or "",
                "hostname": hostname or "",
                "last_ping": int(last_ping or 0),
                "is_alive": current - int(last_ping or 0) <= ALIVE_WITHIN_MS,
            }
            for node_id, hostname, last_ping, version, schema, chash, ip in rows
        ],
    )


# -- posts ----------------------------------------------------------------------------------------

POST_COLUMNS = (
    "id, createat, updateat, editat, deleteat, userid, channelid, rootid, message, type, props, fileids"
)


def post_from_row(row: tuple[Any, ...]) -> dict[str, object]:
    (post_id, create_at, update_at, edit_at, delete_at, user_id, channel_id) = row[:7]
    root_id, message, post_type, props, file_ids = row[7:]
    return {
        "id": post_id,
        "create_at": create_at,
        "update_at": update_at,
        "edit_at": edit_at,
        "delete_at": delete_at,
        "is_pinned": False,
        "user_id": user_id,
        "channel_id": channel_id,
        "root_id": root_id or "",
        "original_id": "",
        "message": message,
        "type": post_type or "",
        "props": props or {},
        "hashtags": "",
        "pending_post_id": "",
        "file_ids": json.loads(file_ids) if file_ids else [],
        "metadata": {},
    }


def _load_json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _validate_post(payload: Mapping[str, Any]) -> tuple[Response | None, list[str]]:
    channel_id = payload.get("channel_id")
    if not isinstance(channel_id, str) or not ID_RE.match(channel_id):
        return app_error(400, "api.context.invalid_body_param.app_error", "Invalid channel_id."), []
    message = payload.get("message", "")
    if not isinstance(message, str) or len(message) > MAX_POST_RUNES:
        return app_error(400, "model.post.is_valid.message_length.app_error", "Bad message."), []
    file_ids = payload.get("file_ids") or []
    if not isinstance(file_ids, list) or len(file_ids) > 10:
        return app_error(400, "model.post.is_valid.file_ids.app_error", "Bad file_ids."), []
    if not all(isinstance(f, str) and ID_RE.match(f) for f in file_ids):
        return app_error(400, "model.post.is_valid.file_ids.app_error", "Bad file_ids."), []
    return None, [str(f) for f in file_ids]


@App.route("POST", "/api/v4/posts")
def create_post(app: App, request: Request) -> Response:
    payload = _load_json_object(request.body)
    if payload is None:
        return app_error(400, "api.context.invalid_body_param.app_error", "Invalid post body.")
    problem, file_ids = _validate_post(payload)
    if problem is not None:
        return problem
    post_id = payload.get("id") or ""
    pending = str(payload.get("pending_post_id") or "")
    if post_id and (not isinstance(post_id, str) or not ID_RE.match(post_id)):
        return app_error(400, "api.context.invalid_body_param.app_error", "Invalid id.")
    if not post_id and pending:
        # Upstream dedupes retries by pending_post_id in memory; a DB key works across nodes.
        digest = hashlib.sha256(f"{payload['channel_id']}/{pending}".encode()).digest()
        post_id = new_id(digest)
    post_id = str(post_id or new_id())
    created = now_ms()
    root_id = str(payload.get("root_id") or "")
    props = payload.get("props") if isinstance(payload.get("props"), dict) else {}
    inserted = app.db.execute(
        f"INSERT INTO posts ({POST_COLUMNS}, ispinned, hasreactions, originalid, hashtags,"  # noqa: S608 - constant column list
        " filenames, remoteid) VALUES (%s, %s, %s, 0, 0, %s, %s, %s, %s, %s, %s, %s, false,"
        " false, '', '', '[]', '') ON CONFLICT (id) DO NOTHING",
        (
            post_id,
            created,
            created,
            STANDIN_USER_ID,
            payload["channel_id"],
            root_id,
            payload.get("message", ""),
            str(payload.get("type") or ""),
            json.dumps(props),
            json.dumps(file_ids),
        ),
    )
    rows = app.db.query(
        f"SELECT {POST_COLUMNS} FROM posts WHERE id = %s",  # noqa: S608 - constant column list
        (post_id,),
        writer=True,
    )
    post = post_from_row(rows[0])
    if not inserted and (
        post["channel_id"] != payload["channel_id"] or post["message"] != payload.get("message", "")
    ):
        return app_error(400, "api.post.create_post.duplicate_id", "That post id is taken.")
    if inserted:
        app.metrics.count_post()
        if file_ids:
            app.db.execute("UPDATE fileinfo SET postid = %s WHERE id = ANY(%s)", (post_id, file_ids))
    post["pending_post_id"] = pending
    return json_response(201, post)


@App.route("GET", "/api/v4/posts/(?P<post_id>[a-z0-9]{26})")
def get_post(app: App, request: Request) -> Response:
    rows = app.db.query(
        f"SELECT {POST_COLUMNS} FROM posts WHERE id = %s AND deleteat = 0",  # noqa: S608
        (request.params["post_id"],),
    )
    if not rows:
        return app_error(404, "app.post.get.app_error", "Unable to get the post.")
    return json_response(200, post_from_row(rows[0]))


@App.route("GET", "/api/v4/channels/(?P<channel_id>[a-z0-9]{26})/posts")
def channel_posts(app: App, request: Request) -> Response:
    try:
        page = max(0, int(request.arg("page", "0")))
        per_page = min(200, max(1, int(request.arg("per_page", "60"))))
    except ValueError:
        return app_error(400, "api.context.invalid_url_param.app_error", "Bad page parameters.")
    rows = app.db.query(
        f"SELECT {POST_COLUMNS} FROM posts WHERE channelid = %s AND deleteat = 0"  # noqa: S608
        " ORDER BY createat DESC, id DESC LIMIT %s OFFSET %s",
        (request.params["channel_id"], per_page + 1, page * per_page),
    )
    posts = [post_from_row(row) for row in rows[:per_page]]
    return json_response(
        200,
        {
            "order": [p["id"] for p in posts],
            "posts": {str(p["id"]): p for p in posts},
            "next_post_id": "",
            "prev_post_id": "",
            "has_next": len(rows) > per_page,
        },
    )


# -- files ----------------------------------------------------------------------------------------

FILE_COLUMNS = "id, creatorid, postid, channelid, createat, updateat, deleteat, name, extension"
FILE_COLUMNS += ", size, mimetype, path"


def file_info_from_row(row: tuple[Any, ...]) -> dict[str, object]:
    file_id, creator, post_id, channel_id, create_at, update_at, delete_at = row[:7]
    name, extension, size, mime_type, _path = row[7:]
    return {
        "id": file_id,
        "user_id": creator,
        "post_id": post_id or "",
        "channel_id": channel_id,
        "create_at": create_at,
        "update_at": update_at,
        "delete_at": delete_at,
        "name": name,
        "extension": extension,
        "size": size,
        "mime_type": mime_type,
        "has_preview_image": False,
        "archived": False,
    }


def _safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    return base if base not in {"", ".", ".."} else ""


@App.route("POST", "/api/v4/files")
def upload_file(app: App, request: Request) -> Response:
    if request.headers.get("content-type", "").startswith("multipart/"):
        return app_error(
            400,
            "api.file.upload_file.standin",
            "The stand-in takes raw-body uploads only (channel_id and filename in the query).",
        )
    channel_id = request.arg("channel_id")
    filename = _safe_filename(request.arg("filename"))
    if not ID_RE.match(channel_id):
        return app_error(400, "api.context.invalid_url_param.app_error", "Invalid channel_id.")
    if not filename:
        return app_error(400, "api.context.invalid_url_param.app_error", "Invalid filename.")
    if not app.config["FileSettings"].get("EnableFileAttachments", True):
        return app_error(501, "api.file.attachments.disabled.app_error", "Attachments are off.")
    file_id = new_id()
    created = now_ms()
    day = datetime.now(UTC).strftime("%Y%m%d")
    path = f"{day}/teams/noteam/channels/{channel_id}/users/{STANDIN_USER_ID}/{file_id}/{filename}"
    mime_type = request.headers.get("content-type") or "application/octet-stream"
    try:
        app.store.write(path, request.body, mime_type)
    except FileStoreError as exc:
        app.journal.error("Could not store the file", error=str(exc))
        return app_error(500, "api.file.upload_file.storage.app_error", "Could not store file.")
    extension = Path(filename).suffix.removeprefix(".").lower()
    app.db.execute(
        f"INSERT INTO fileinfo ({FILE_COLUMNS}) VALUES"  # noqa: S608 - constant column list
        " (%s, %s, '', %s, %s, %s, 0, %s, %s, %s, %s, %s)",
        (
            file_id,
            STANDIN_USER_ID,
            channel_id,
            created,
            created,
            filename,
            extension,
            len(request.body),
            mime_type,
            path,
        ),
    )
    rows = app.db.query(
        f"SELECT {FILE_COLUMNS} FROM fileinfo WHERE id = %s",  # noqa: S608
        (file_id,),
        writer=True,
    )
    return json_response(201, {"file_infos": [file_info_from_row(rows[0])], "client_ids": []})


def _find_file(app: App, file_id: str) -> tuple[Any, ...] | None:
    rows = app.db.query(
        f"SELECT {FILE_COLUMNS} FROM fileinfo WHERE id = %s AND deleteat = 0",  # noqa: S608
        (file_id,),
    )
    return rows[0] if rows else None


@App.route("GET", "/api/v4/files/(?P<file_id>[a-z0-9]{26})")
def get_file(app: App, request: Request) -> Response:
    row = _find_file(app, request.params["file_id"])
    if row is None:
        return app_error(404, "app.file_info.get.app_error", "Unable to get the file info.")
    try:
        data = app.store.read(str(row[11]))
    except FileNotFoundInStoreError:
        return app_error(404, "api.file.get_file.not_found.app_error", "File not in the store.")
    except FileStoreError as exc:
        app.journal.error("Could not read the file", error=str(exc))
        return app_error(500, "api.file.get_file.app_error", "Could not read the file.")
    name = urllib.parse.quote(str(row[7]))
    return Response(
        200,
        data,
        str(row[10] or "application/octet-stream"),
        {"Content-Disposition": f"attachment;filename=\"{name}\"; filename*=UTF-8''{name}"},
    )


@App.route("GET", "/api/v4/files/(?P<file_id>[a-z0-9]{26})/info")
def get_file_info(app: App, request: Request) -> Response:
    row = _find_file(app, request.params["file_id"])
    if row is None:
        return app_error(404, "app.file_info.get.app_error", "Unable to get the file info.")
    return json_response(200, file_info_from_row(row))


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, StandinHandler)


class StandinHandler(BaseHTTPRequestHandler):
    server: StandinHTTPServer
    # Keep-alive like the Go server; nginx upstream keepalive depends on it.
    protocol_version = "HTTP/1.1"
    server_version = "MattermostStandin"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        # gorilla/mux answers HEAD on GET-only routes with 405, and so does this.
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        app = self.server.app
        split = urllib.parse.urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        max_size = int(app.config["FileSettings"].get("MaxFileSize") or 104857600)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or length < 0:
            response = app_error(411, "api.context.length_required", "Send a Content-Length.")
            self.close_connection = True
        elif length > max_size:
            response = app_error(413, "api.file.file_size.app_error", "Request body too large.")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            request = Request(
                method,
                split.path,
                urllib.parse.parse_qs(split.query),
                {name.lower(): value for name, value in self.headers.items()},
                body,
            )
            try:
                response = app.dispatch(request)
            except Exception as exc:  # noqa: BLE001 - a handler bug must answer 500, not hang
                app.journal.error("Request failed", path=split.path, error=repr(exc))
                response = app_error(500, "api.context.500.app_error", "Internal error.", repr(exc))
        app.metrics.count(response.status)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header(*STANDIN_HEADER)
        self.send_header("X-Version-Id", app.version_header())
        self.send_header("X-Request-Id", new_id())
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        self.server.app.journal.debug("http", request=format % args, client=self.client_address[0])


class MetricsHandler(BaseHTTPRequestHandler):
    server: MetricsHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/metrics":
            status, body = 404, b"404 page not found\n"
        else:
            app = self.server.app
            status, body = 200, app.metrics.render(app.node.version, app.node.id).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(*STANDIN_HEADER)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        self.server.app.journal.debug("metrics", request=format % args)


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, MetricsHandler)


# ---------------------------------------------------------------------------------------------
# Process plumbing


def sd_notify(message: str) -> bool:
    """Send a datagram to $NOTIFY_SOCKET as systemd's Type=notify expects."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def _notify(journal: Journal, message: str) -> None:
    try:
        sd_notify(message)
    except OSError as exc:
        journal.warning("Could not notify systemd", error=str(exc))


def _serve_in_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True
    )
    thread.start()
    return thread


@dataclass
class Running:
    """What run_server started and must stop again."""

    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop_all(self, journal: Journal) -> None:
        for stopper in reversed(self.stoppers):
            try:
                stopper()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                journal.warning("Error during shutdown", error=repr(exc))
        self.stoppers.clear()


def _bind(
    factory: Callable[[tuple[str, int], App], ThreadingHTTPServer],
    listen: str,
    app: App,
) -> ThreadingHTTPServer:
    host, port = parse_listen_address(listen)
    try:
        return factory((host, port), app)
    except OSError as exc:
        raise StandinError(f"cannot listen on {listen}: {exc}") from exc


def run_server(config_source: str | None) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    config, env_applied = load_config(config_source, os.environ)
    journal = Journal(config["LogSettings"], install_dir())
    running = Running()
    try:
        return _serve(config, env_applied, journal, running, stop)
    except StandinError as exc:
        journal.error("Server failed to start", error=str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - a database error at start-up exits like upstream
        journal.error("Server failed", error=repr(exc))
        return 1
    finally:
        running.stop_all(journal)
        journal.close()


def _start_network(config: dict[str, Any], app: App, running: Running, journal: Journal) -> None:
    """Open the HTTP, metrics and gossip ports and join the cluster, as configured."""
    listen = str(config["ServiceSettings"]["ListenAddress"])
    cluster = config["ClusterSettings"]
    node = app.node
    http_server = _bind(StandinHTTPServer, listen, app)
    running.stoppers.append(http_server.server_close)
    _serve_in_thread(http_server, "http")
    running.stoppers.append(http_server.shutdown)
    metrics = config["MetricsSettings"]
    if metrics.get("Enable"):
        metrics_server = _bind(MetricsHTTPServer, str(metrics.get("ListenAddress")), app)
        running.stoppers.append(metrics_server.server_close)
        _serve_in_thread(metrics_server, "metrics")
        running.stoppers.append(metrics_server.shutdown)
    if cluster.get("Enable"):
        if not node.cluster_name:
            journal.warning("ClusterSettings.ClusterName is empty: peers will not find this node")
        try:
            gossip = GossipListener(str(cluster.get("BindAddress") or ""), node.gossip_port)
        except OSError as exc:
            raise StandinError(f"cannot open GossipPort {node.gossip_port}: {exc}") from exc
        gossip.start()
        running.stoppers.append(gossip.stop)
        registration = ClusterRegistration(app.db, node, journal)
        registration.start()
        running.stoppers.append(registration.stop)


def _serve(
    config: dict[str, Any],
    env_applied: list[str],
    journal: Journal,
    running: Running,
    stop: threading.Event,
) -> int:
    started = time.monotonic()
    cluster = config["ClusterSettings"]
    hostname = str(cluster.get("OverrideHostname") or "") or socket.gethostname()
    journal.info(
        "Server is initializing...",
        version=STANDIN_VERSION,
        build_number=STANDIN_BUILD_NUMBER,
        test_double=True,
        broken_build=STANDIN_BROKEN,
        env_overrides=env_applied,
    )
    sql = config["SqlSettings"]
    if sql.get("DriverName") != "postgres":
        raise StandinError(f"SqlSettings.DriverName {sql.get('DriverName')!r}: only postgres")
    db = Database(sql, journal)
    running.stoppers.append(db.close)
    journal.info("Pinging SQL", database=redact_dsn(db.writer_dsn))
    db.wait_until_reachable(stop)
    if stop.is_set():
        return 0
    result = run_migrations(db, STANDIN_VERSION, hostname, journal)
    journal.info(
        "Migrations finished",
        applied=[m.name for m in result.applied],
        schema_version=result.schema_version,
    )
    node = NodeIdentity(
        id=new_id(),
        hostname=hostname,
        cluster_name=str(cluster.get("ClusterName") or ""),
        gossip_port=int(cluster.get("GossipPort") or 8074),
        http_port=parse_listen_address(str(config["ServiceSettings"]["ListenAddress"]))[1],
        ip_address=str(cluster.get("AdvertiseAddress") or cluster.get("BindAddress") or ""),
        version=STANDIN_VERSION,
        schema_version=result.schema_version,
        config_hash=config_hash(config),
    )
    store = make_file_store(config["FileSettings"], hostname)
    try:
        store.prepare()
    except FileStoreError as exc:
        # Upstream logs this and starts anyway; the deep ping then reports it.
        journal.error("Problem with file storage settings", error=str(exc))
    app = App(config=config, db=db, store=store, journal=journal, node=node)

    listen = str(config["ServiceSettings"]["ListenAddress"])
    _start_network(config, app, running, journal)
    journal.info(f"Server is listening on {listen}", address=listen, node_id=node.id)
    journal.info(
        "Server is ready",
        version=STANDIN_VERSION,
        hostname=hostname,
        config_hash=node.config_hash,
        startup_seconds=round(time.monotonic() - started, 3),
    )
    _notify(journal, f"READY=1\nSTATUS=Mattermost stand-in {STANDIN_VERSION} on {listen}")
    stop.wait()
    journal.info("Stopping Server...")
    _notify(journal, "STOPPING=1")
    running.stop_all(journal)
    journal.info("Server stopped")
    return 0


def run_db_command(config_source: str | None, action: str, *, save_plan: bool, dry_run: bool) -> int:
    config, _ = load_config(config_source, os.environ)
    journal = Journal({"EnableConsole": False, "EnableFile": False}, install_dir())
    db = Database(config["SqlSettings"], journal)
    try:
        if action == "version":
            rows = db.query("SELECT COALESCE(MAX(version), 0) FROM db_migrations", writer=True)
            print(f"Current database schema version is: {rows[0][0]}")
            return 0
        plan = pending_migrations(db, STANDIN_VERSION)
        document = {
            "server_version": STANDIN_VERSION,
            "test_double": True,
            "migrations": [{"version": m.version, "name": m.name} for m in plan],
        }
        if save_plan or dry_run:
            print(json.dumps(document, indent=2))
        if dry_run:
            return 0
        hostname = str(config["ClusterSettings"].get("OverrideHostname") or socket.gethostname())
        result = run_migrations(db, STANDIN_VERSION, hostname, journal)
        print(f"Applied {len(result.applied)} migrations; schema version {result.schema_version}")
        return 0
    finally:
        db.close()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config.json or DSN")
    parser = argparse.ArgumentParser(
        prog="mattermost",
        description="Mattermost server STAND-IN (a test double, not Mattermost).",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("version", parents=[common], help="print the version")
    commands.add_parser("server", parents=[common], help="run the server (the default)")
    db = commands.add_parser("db", parents=[common], help="database commands")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    migrate = db_commands.add_parser("migrate", parents=[common], help="apply migrations")
    migrate.add_argument("--save-plan", action="store_true", help="print the plan as JSON")
    migrate.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    migrate.add_argument("--auto-recover", action="store_true", help="accepted and ignored")
    db_commands.add_parser("version", parents=[common], help="print the schema version")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_source: str | None = getattr(args, "config", None)
    try:
        if args.command == "version":
            print(version_text())
            return 0
        if args.command == "db":
            return run_db_command(
                config_source,
                "version" if args.db_command == "version" else "migrate",
                save_plan=getattr(args, "save_plan", False),
                dry_run=getattr(args, "dry_run", False),
            )
        return run_server(config_source)
    except StandinError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. psycopg2 errors in `db` commands
        print(f"Error: {exc!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
