"""Serves an unpacked, verified bundle over HTTP to the hosts, from the machine running the deployer.

The hosts reach nothing but their own subnet; the deployer (on a workstation next to the lab, or
on the site's bastion) listens on the address it uses to reach them, so the same code works in
both places. apt checks the repository's signature and the roles check every artifact's sha256
from the signed manifest, so plain HTTP carries nothing the hosts trust blindly.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from deployer.execute.errors import BundleServeError

# A fixed port keeps the hosts' apt source identical from one deploy to the next.
DEFAULT_PORT = 8780


class _QuietHandler(SimpleHTTPRequestHandler):
    """GET and HEAD of files under the release folder; no logging to the terminal."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        del format, args

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        del path
        self.send_error(403, "no listings")


def local_address_towards(address: str) -> str:
    """The address of this machine on the route to `address` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, 9))
        except OSError as exc:
            raise BundleServeError(
                f"this machine has no route to {address}: {exc.strerror}",
                hint="run the deployer where it reaches the hosts (the bastion, or the lab's machine)",
            ) from exc
        return str(probe.getsockname()[0])


class BundleServer:
    """`with BundleServer(folder, towards=host_address) as server: server.url`."""

    def __init__(self, folder: Path, towards: str, port: int = DEFAULT_PORT) -> None:
        self.folder = folder
        self.address = local_address_towards(towards)
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def start(self) -> Self:
        handler = partial(_QuietHandler, directory=str(self.folder))
        try:
            self._server = ThreadingHTTPServer((self.address, self.port), handler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise BundleServeError(
                    f"cannot listen on {self.address}:{self.port}: {exc.strerror}"
                ) from exc
            # Another deploy serves here: take any free port (the apt source changes once).
            self._server = ThreadingHTTPServer((self.address, 0), handler)
        self.port = int(self._server.server_address[1])
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="bundle-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
