"""Runs throwaway PostgreSQL, SeaweedFS S3 and Mattermost stand-in processes on 127.0.0.1.

Test code (pytest fixtures) drives these helpers; everything listens on loopback only and
every started process is stopped again by `stop()`, which is safe to call twice.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
PG_VERSION = "15"
MM_USER = "mmuser"
MM_PASSWORD = "mostest-standin"  # noqa: S105 - a throwaway loopback-only test cluster


def load_module(name: str) -> ModuleType:
    """Import a sibling file of this directory without it being on sys.path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> int | None:
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def find_pg_bin_dir() -> Path | None:
    candidates = [os.environ.get("STANDIN_PG_BIN", ""), f"/usr/lib/postgresql/{PG_VERSION}/bin"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster in a temp dir, run as `postgres` when we are root."""

    bin_dir: Path
    port: int = field(default_factory=free_port)
    superuser_password: str = field(default_factory=lambda: uuid.uuid4().hex)
    base_dir: Path = field(init=False)
    started: bool = field(default=False, init=False)

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
        subprocess.run(args, check=True, capture_output=True, cwd=self.base_dir, timeout=120, **kwargs)

    def start(self) -> None:
        # Not under pytest's tmp dir: that one is private to root and postgres could not enter.
        self.base_dir = Path(tempfile.mkdtemp(prefix="standin-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base_dir, "postgres", "postgres")
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        data = self.base_dir / "data"
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = " ".join(
            [
                f"-c listen_addresses={LOOPBACK}",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.base_dir}",
                "-c max_connections=300",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.base_dir / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        self.admin_execute(
            "postgres", f"CREATE ROLE {MM_USER} LOGIN PASSWORD '{MM_PASSWORD}'", autocommit=True
        )

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.base_dir / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
            self.started = False
        if getattr(self, "base_dir", None) is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _connect(self, database: str) -> Any:
        import psycopg2  # noqa: PLC0415 - only integration tests need it

        return psycopg2.connect(
            host=LOOPBACK,
            port=self.port,
            user="postgres",
            password=self.superuser_password,
            dbname=database,
            connect_timeout=10,
        )

    def admin_execute(
        self, database: str, sql: str, params: tuple[object, ...] = (), *, autocommit: bool = False
    ) -> list[tuple[Any, ...]]:
        conn = self._connect(database)
        try:
            conn.autocommit = autocommit
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = list(cur.fetchall()) if cur.description else []
            if not autocommit:
                conn.commit()
            return rows
        finally:
            conn.close()

    def create_database(self) -> str:
        name = f"mm_{uuid.uuid4().hex[:12]}"
        self.admin_execute("postgres", f"CREATE DATABASE {name} OWNER {MM_USER}", autocommit=True)
        return name

    def dsn(self, database: str, *, port: int | None = None) -> str:
        # binary_parameters is what upstream's sample DSN carries; the stand-in must cope.
        return (
            f"postgres://{MM_USER}:{MM_PASSWORD}@{LOOPBACK}:{port or self.port}/{database}"
            "?sslmode=disable&connect_timeout=10&binary_parameters=yes"
        )


# ---------------------------------------------------------------------------------------------
# SeaweedFS, the S3 store


def find_weed() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class SeaweedS3:
    """`weed server -s3` on loopback ports with one access key enforced (so SigV4 is checked)."""

    weed: Path
    access_key: str = "standin-access"
    shared_bucket: str = "mattermost-test"
    secret_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    ports: dict[str, int] = field(default_factory=dict)
    base_dir: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.ports['s3']}"

    def file_settings(self, bucket: str, prefix: str = "") -> dict[str, object]:
        return {
            "DriverName": "amazons3",
            "AmazonS3AccessKeyId": self.access_key,
            "AmazonS3SecretAccessKey": self.secret_key,
            "AmazonS3Bucket": bucket,
            "AmazonS3PathPrefix": prefix,
            "AmazonS3Region": "us-east-1",
            "AmazonS3Endpoint": self.endpoint,
            "AmazonS3SSL": False,
        }

    def client(self, bucket: str) -> Any:
        standin = load_module("mattermost_standin")
        settings = standin.S3Settings.from_file_settings(self.file_settings(bucket))
        return standin.S3Client(settings)

    def start(self, timeout: float = 90) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="standin-weed-"))
        names = ("master", "volume", "filer", "s3")
        self.ports = {name: free_port() for name in names}
        self.ports.update({f"{name}_grpc": free_port() for name in names})
        identities = {
            "identities": [
                {
                    "name": "mattermost",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        s3_config = self.base_dir / "s3.json"
        s3_config.write_text(json.dumps(identities), encoding="utf-8")
        (self.base_dir / "data").mkdir()
        (self.base_dir / "logs").mkdir()
        p = self.ports
        args = [
            str(self.weed),
            f"-logdir={self.base_dir / 'logs'}",
            "server",
            f"-dir={self.base_dir / 'data'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",  # it would phone home otherwise
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            # SeaweedFS grows volumes per bucket; leave room for the buckets tests create.
            "-volume.max=64",
            "-volume.preStopSeconds=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={s3_config}",
        ]
        with (self.base_dir / "weed.out").open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.base_dir)
        client = self.client(self.shared_bucket)

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.base_dir / 'weed.out'}")
            try:
                client.request("PUT", None)
                status, _ = client.request("PUT", "probe", b"ok")
            except Exception:  # noqa: BLE001 - not up yet
                return False
            return bool(status == 200)

        wait_for(ready, timeout, "SeaweedFS S3 to accept writes")

    def stop(self) -> None:
        # weed lingers ~10 s after SIGTERM; its data is thrown away anyway.
        _stop_process(self.process, timeout=3)
        self.process = None
        for name in ("master", "volume", "filer", "s3"):
            # weed also opens unix sockets named after its gRPC ports in /tmp.
            Path(f"/tmp/seaweedfs-{name}-grpc-{self.ports.get(f'{name}_grpc')}.sock").unlink(missing_ok=True)
        if getattr(self, "base_dir", None) is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Stand-in nodes


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpAnswer:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def install_tarball(tarball: Path, target: Path) -> Path:
    """Extract a release tarball into target and return its mattermost/ directory."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")
    return target / "mattermost"


@dataclass
class StandinNode:
    """One stand-in process started from an installed tarball, ready once it notified."""

    install_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    notify: socket.socket | None = field(default=None, init=False)
    startup_seconds: float = field(default=0.0, init=False)
    returncode: int | None = field(default=None, init=False)
    _launched_at: float = field(default=0.0, init=False)

    @property
    def port(self) -> int:
        listen = self.env.get("MM_SERVICESETTINGS_LISTENADDRESS") or self.config_value(
            "ServiceSettings", "ListenAddress"
        )
        return int(str(listen).rpartition(":")[2])

    @property
    def log_path(self) -> Path:
        return self.install_dir / "logs" / "mattermost.log"

    @property
    def output_path(self) -> Path:
        return self.install_dir / "stdout.log"

    def config_value(self, section: str, key: str) -> object:
        config = json.loads((self.install_dir / "config" / "config.json").read_text())
        return config[section][key]

    def edit_config(self, changes: Mapping[str, Mapping[str, object]]) -> None:
        path = self.install_dir / "config" / "config.json"
        config = json.loads(path.read_text())
        for section, values in changes.items():
            config.setdefault(section, {}).update(values)
        path.write_text(json.dumps(config, indent=4) + "\n")

    def launch(self) -> None:
        """Start the process without waiting; see wait_ready()."""
        name = f"standin-notify-{uuid.uuid4().hex}"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind("\0" + name)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MM_")}
        env.pop("NOTIFY_SOCKET", None)
        env.update(self.env)
        env["NOTIFY_SOCKET"] = "@" + name
        binary = self.install_dir / "bin" / "mattermost"
        self._launched_at = time.monotonic()
        with self.output_path.open("ab") as out:
            # sys.executable: it has psycopg2; /usr/bin/python3 of the shebang may not.
            self.process = subprocess.Popen(
                [sys.executable, str(binary), *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.install_dir,
                env=env,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        if self.process is None or self.notify is None:
            raise RuntimeError("launch() first")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stand-in exited with {self.process.returncode}:\n{self.output()}")
            readable, _, _ = select.select([self.notify], [], [], 0.1)
            if readable and b"READY=1" in self.notify.recv(4096):
                self.startup_seconds = time.monotonic() - self._launched_at
                return
        raise TimeoutError(f"stand-in not ready after {timeout}s:\n{self.output()}")

    def start(self, timeout: float = 60) -> StandinNode:
        self.launch()
        self.wait_ready(timeout)
        return self

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> int | None:
        self.returncode = _stop_process(self.process, timeout)
        self.process = None
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        return self.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        return http_request(self.port, method, path, body, headers)

    def get(self, path: str) -> HttpAnswer:
        return self.request("GET", path)

    def post_json(self, path: str, payload: object) -> HttpAnswer:
        return self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
