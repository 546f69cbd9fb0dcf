"""Posts a short summary to a Mattermost (Slack-compatible) webhook; a failure is reported, never raised."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

# Mattermost cuts a post at 16383 characters; stay well below for one readable message.
MAX_TEXT = 4000
USERNAME = "deployer"


@dataclass(frozen=True)
class Notified:
    """What became of one notification: `ok`, and a line for the user either way."""

    ok: bool
    detail: str


def payload(text: str, username: str = USERNAME) -> bytes:
    """The Slack-compatible body: `text` (Markdown) and the name to post as."""
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 20].rstrip() + "\n... (shortened)"
    return json.dumps({"text": text, "username": username}).encode()


def post(url: str, text: str, *, timeout: float = 10.0, ca_file: str | None = None) -> Notified:
    """POST the summary; any failure comes back as Notified(ok=False, ...) for the caller to print."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return Notified(ok=False, detail=f"not an http(s) webhook URL: {_shown(url)}")
    context = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=payload(text), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
            status = answer.status
            body = answer.read(200).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return Notified(ok=False, detail=f"webhook {_shown(url)} answered HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Notified(ok=False, detail=f"webhook {_shown(url)} not reached: {reason}")
    if not 200 <= status < 300:  # noqa: PLR2004 - HTTP success range
        return Notified(ok=False, detail=f"webhook {_shown(url)} answered HTTP {status}: {body}")
    return Notified(ok=True, detail=f"notified {_shown(url)}")


def _shown(url: str) -> str:
    """The URL without its path: a webhook's path is its secret key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..."


def notify(url: str | None, text: str, echo: object = print, timeout: float = 10.0) -> Notified | None:
    """Post when a URL is given and print one line about it to stderr-like `echo`; never raises."""
    if not url:
        return None
    try:
        result = post(url, text, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - a notification must never change the command's outcome
        result = Notified(ok=False, detail=f"notification failed: {type(exc).__name__}: {exc}")
    line = result.detail if result.ok else f"warning: notification not sent: {result.detail}"
    if callable(echo):
        echo(line)
    return result
