"""Minimal HTTP(S) requests for the checks: stdlib only, a timeout on every call, TLS checked against a CA."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any


class HttpError(Exception):
    """The request did not produce an HTTP answer (refused, timed out, TLS failure, ...)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:  # noqa: ANN401 - JSON is any shape; callers check it
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(f"answer is not JSON: {self.body[:80]!r}") from exc


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to `address` but verifies the certificate for (and sends SNI of) `server_name`."""

    def __init__(
        self, address: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(server_name, port, context=context, timeout=timeout)
        self._address = address
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


def tls_context(ca_pem: str) -> ssl.SSLContext:
    """A client context trusting ONLY the environment's CA, with hostname checking on."""
    context = ssl.create_default_context(cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def request(
    method: str,
    address: str,
    port: int,
    path: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Answer:
    """One request on a fresh connection; HttpError for anything that is not an HTTP answer."""
    connection: http.client.HTTPConnection
    if tls is not None:
        connection = _PinnedHTTPSConnection(address, port, server_name or address, tls, timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
    except ssl.SSLCertVerificationError as exc:
        raise HttpError(f"certificate not trusted: {exc.verify_message}") from exc
    except TimeoutError as exc:
        raise HttpError(f"no answer within {timeout:g}s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise HttpError(str(exc) or type(exc).__name__) from exc
    finally:
        connection.close()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
