"""Steady synthetic load through the VIP: posts written and read back, files uploaded and fetched."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from deployer.drill.measure import Event, Op, Verification
from deployer.health.http import HttpError, request, tls_context

HTTP_CREATED = 201
HTTP_OK = 200


class LoadError(Exception):
    """A request of the synthetic load did not do what it should; the message says what came back."""


class LoadTarget(Protocol):
    """What the load needs from the service; each call raises LoadError (or OSError) on failure."""

    def write_post(self, uid: str) -> str: ...

    def read_post(self, post_id: str) -> str: ...

    def upload_file(self, uid: str, content: bytes) -> str: ...

    def download_file(self, file_id: str) -> bytes: ...


@dataclass
class MattermostTarget:
    """The Mattermost REST API through the VIP over HTTPS, trusting only the environment's CA."""

    address: str
    port: int
    site_host: str
    ca_pem: str
    channel_id: str
    token: str = ""
    timeout: float = 3.0

    def _call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if body is not None else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            answer = request(
                method,
                self.address,
                self.port,
                path,
                timeout=self.timeout,
                headers=headers,
                body=body,
                tls=tls_context(self.ca_pem),
                server_name=self.site_host,
            )
        except HttpError as exc:
            raise LoadError(str(exc)) from exc
        return answer.status, answer.body

    def write_post(self, uid: str) -> str:
        # pending_post_id makes a retried write idempotent: the server dedupes on it.
        data = {"channel_id": self.channel_id, "message": f"deployer drill {uid}", "pending_post_id": uid}
        status, body = self._call("POST", "/api/v4/posts", json.dumps(data).encode())
        if status != HTTP_CREATED:
            raise LoadError(f"create post: HTTP {status}")
        return str(json.loads(body)["id"])

    def read_post(self, post_id: str) -> str:
        status, body = self._call("GET", f"/api/v4/posts/{post_id}")
        if status != HTTP_OK:
            raise LoadError(f"get post: HTTP {status}")
        return str(json.loads(body).get("message", ""))

    def upload_file(self, uid: str, content: bytes) -> str:
        path = f"/api/v4/files?channel_id={self.channel_id}&filename=drill-{uid}.txt"
        status, body = self._call("POST", path, content, "text/plain")
        if status != HTTP_CREATED:
            raise LoadError(f"upload: HTTP {status}")
        return str(json.loads(body)["file_infos"][0]["id"])

    def download_file(self, file_id: str) -> bytes:
        status, body = self._call("GET", f"/api/v4/files/{file_id}")
        if status != HTTP_OK:
            raise LoadError(f"download: HTTP {status}")
        return body


def file_content(uid: str) -> bytes:
    """What a drill file holds: derived from its id, so a download is checked without keeping it."""
    return f"deployer drill file {uid}\n".encode() + hashlib.sha256(uid.encode()).digest() * 64


@dataclass
class Load:
    """Runs the load one step at a time and records every request as an Event."""

    target: LoadTarget
    clock: Callable[[], float]
    file_every: int = 4  # a file up and down every Nth step; posts every step
    new_uid: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    events: list[Event] = field(default_factory=list)
    posts: dict[str, str] = field(default_factory=dict)  # uid -> post id, acknowledged only
    files: dict[str, str] = field(default_factory=dict)  # uid -> file id, acknowledged only
    steps: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _do(self, op: Op, uid: str, call: Callable[[], str]) -> str | None:
        started = self.clock()
        ref: str | None = None
        try:
            ref = call()
        except (LoadError, OSError, ValueError, KeyError, IndexError) as exc:
            event = Event(op, uid, started, self.clock(), ok=False, error=str(exc) or type(exc).__name__)
        else:
            event = Event(op, uid, started, self.clock(), ok=True, ref=ref)
        with self._lock:
            self.events.append(event)
        return ref

    def step(self) -> None:
        uid = self.new_uid()
        post_id = self._do(Op.WRITE, uid, lambda: self.target.write_post(uid))
        if post_id is not None:
            self.posts[uid] = post_id
            self._do(
                Op.READ, uid, lambda: _expect(uid in self.target.read_post(post_id), "post text differs")
            )
        if self.steps % self.file_every == 0:
            file_uid = self.new_uid()
            content = file_content(file_uid)
            file_id = self._do(Op.UPLOAD, file_uid, lambda: self.target.upload_file(file_uid, content))
            if file_id is not None:
                self.files[file_uid] = file_id
                self._do(
                    Op.DOWNLOAD,
                    file_uid,
                    lambda: _expect(self.target.download_file(file_id) == content, "file content differs"),
                )
        self.steps += 1

    def _post_back(self, uid: str, post_id: str) -> Callable[[], bool]:
        return lambda: uid in self.target.read_post(post_id)

    def _file_back(self, uid: str, file_id: str) -> Callable[[], bool]:
        return lambda: self.target.download_file(file_id) == file_content(uid)

    def verify(self) -> Verification:
        """Read back every acknowledged post and file; a missing or different one is lost."""
        lost_posts = [uid for uid, post_id in self.posts.items() if not _twice(self._post_back(uid, post_id))]
        lost_files = [uid for uid, file_id in self.files.items() if not _twice(self._file_back(uid, file_id))]
        return Verification(len(self.posts), tuple(lost_posts), len(self.files), tuple(lost_files))


def _twice(read: Callable[[], bool]) -> bool:
    """A read-back that fails once (a connection reset) gets one more try before it counts as lost."""
    for _ in range(2):
        try:
            if read():
                return True
        except (LoadError, OSError, ValueError, KeyError):
            continue
    return False


def _expect(condition: bool, message: str) -> str:
    if not condition:
        raise LoadError(message)
    return "ok"
