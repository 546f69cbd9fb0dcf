"""Probes of a deployed data tier from the machine: SQL through the VIP, S3 with SigV4, Patroni's API.

Shared by tests/integration/test_datatier*.py and bench/failover.py so both measure the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import quote

import psycopg2

REGION = "us-east-1"


@dataclass(frozen=True)
class S3:
    """A minimal S3 client (path-style, SigV4, unsigned payload hash) for PUT/GET/DELETE."""

    host: str
    port: int
    access_key: str
    secret_key: str
    timeout: float = 15.0

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        now = dt.datetime.now(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        payload = hashlib.sha256(body).hexdigest()
        host = f"{self.host}:{self.port}"
        canonical_path = quote(path, safe="/-_.~")
        headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, canonical_path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
        )
        scope = f"{day}/{REGION}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = f"AWS4{self.secret_key}".encode()
        for part in (day, REGION, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, canonical_path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def put(self, bucket: str, key: str, body: bytes) -> int:
        return self.request("PUT", f"/{bucket}/{key}", body)[0]

    def get(self, bucket: str, key: str) -> tuple[int, bytes]:
        return self.request("GET", f"/{bucket}/{key}")


def http_json(url: str, timeout: float = 2.0) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - lab addresses only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def patroni_leader(addresses: dict[str, str], port: int = 8008) -> str | None:
    for name, address in addresses.items():
        if http_json(f"http://{address}:{port}/primary", timeout=1.0)[0] == 200:
            return name
    return None


def connect(
    host: str, port: int, password: str, user: str = "mattermost", dbname: str = "mattermost"
) -> object:
    return psycopg2.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=2,
        options="-c statement_timeout=3000",
        # A connection whose load balancer vanished must fail, not hang: unacknowledged data
        # for 3 s, or an idle link that stops answering keepalives, closes it.
        tcp_user_timeout=3000,
        keepalives=1,
        keepalives_idle=2,
        keepalives_interval=1,
        keepalives_count=2,
    )


@dataclass
class Writer:
    """Writes numbered rows through one endpoint as fast as it can; remembers every acknowledged id."""

    host: str
    port: int
    password: str
    table: str = "failover_probe"
    acknowledged: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def setup(self) -> None:
        conn = connect(self.host, self.port, self.password)
        try:
            with conn, conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (id bigint PRIMARY KEY, at timestamptz)"
                )
                cur.execute(f"TRUNCATE {self.table}")
        finally:
            conn.close()  # type: ignore[attr-defined]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _loop(self) -> None:
        next_id = 1
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = connect(self.host, self.port, self.password)
                    conn.autocommit = True  # type: ignore[attr-defined]
                with conn.cursor() as cur:  # type: ignore[attr-defined]
                    cur.execute(f"INSERT INTO {self.table} VALUES (%s, now())", (next_id,))  # noqa: S608 - our table
                self.acknowledged.append(next_id)
                self.ack_times.append(time.monotonic())
                next_id += 1
                time.sleep(0.05)
            except psycopg2.Error:
                self.errors += 1
                next_id += 1  # the outcome of a failed insert is unknown; never reuse its id
                if conn is not None:
                    with contextlib.suppress(psycopg2.Error):
                        conn.close()  # type: ignore[attr-defined]
                conn = None
                time.sleep(0.1)

    def first_ack_after(self, moment: float) -> float | None:
        return next((t for t in self.ack_times if t > moment), None)

    def last_ack_before(self, moment: float) -> float | None:
        return next((t for t in reversed(self.ack_times) if t <= moment), None)

    def lost(self) -> list[int]:
        """Acknowledged ids missing from the table now (read through the write endpoint)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = connect(self.host, self.port, self.password)
                break
            except psycopg2.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            with conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(f"SELECT id FROM {self.table}")  # noqa: S608 - our table name
                present = {row[0] for row in cur.fetchall()}
        finally:
            conn.close()  # type: ignore[attr-defined]
        return [i for i in self.acknowledged if i not in present]
