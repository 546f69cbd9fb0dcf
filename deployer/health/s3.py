"""Signs S3 requests with AWS Signature Version 4 (path-style, as SeaweedFS's gateway expects)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str,
    host: str,
    path: str,
    *,
    access_key: str,
    secret_key: str,
    payload: bytes = b"",
    region: str = "us-east-1",
    now: datetime | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers (Host, X-Amz-Date, X-Amz-Content-Sha256, Authorization, extras) for one request."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = moment.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(payload).hexdigest()
    headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    headers.update({k.lower(): v.strip() for k, v in (extra or {}).items()})
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/~"),
            "",
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers
