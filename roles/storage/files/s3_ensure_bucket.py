#!/usr/bin/python3
"""Create an S3 bucket unless it exists; prints 'exists' or 'created'. Keys come from the environment."""

import datetime as dt
import hashlib
import hmac
import http.client
import os
import sys
from dataclasses import dataclass

HTTP_OK = 200
REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    access: str
    secret: str


def request(endpoint: Endpoint, method: str, path: str) -> tuple[int, bytes]:
    """One AWS-signature-v4 request with an empty body; returns (status, body)."""
    host, port, access, secret = endpoint.host, endpoint.port, endpoint.access, endpoint.secret
    now = dt.datetime.now(dt.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": f"{host}:{port}", "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
    )
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body


def main() -> int:
    bucket = sys.argv[3]
    endpoint = Endpoint(
        sys.argv[1], int(sys.argv[2]), os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    )
    status, _ = request(endpoint, "HEAD", f"/{bucket}")
    if status == HTTP_OK:
        print("exists")
        return 0
    status, body = request(endpoint, "PUT", f"/{bucket}")
    if status != HTTP_OK:
        print(f"PUT /{bucket} answered {status}: {body[:200]!r}", file=sys.stderr)
        return 1
    print("created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
