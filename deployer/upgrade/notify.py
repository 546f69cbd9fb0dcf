"""Posts the summary of a run to a Slack-compatible incoming webhook; a failure only warns."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def post(url: str, text: str, timeout: float = 10.0) -> str | None:
    """Send `text`; returns None when delivered, else why not (never raises)."""
    if urlsplit(url).scheme not in {"http", "https"}:
        return f"not an http(s) URL: {url}"
    data = json.dumps({"username": "deployer", "text": text}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        return f"the webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"the webhook is unreachable: {exc}"
    return None if 200 <= status < 300 else f"the webhook answered HTTP {status}"  # noqa: PLR2004
