#!/usr/bin/python3
"""Create an S3 bucket unless it exists; prints 'exists' or 'created'. Keys come from the environment."""

import datetime
import hashlib
import hmac
import http.client
import os
import sys


def request(host, port, method, path, access, secret):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": f"{host}:{port}", "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
    )
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
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


def main():
    host, port, bucket = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    access, secret = os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    status, _ = request(host, port, "HEAD", f"/{bucket}", access, secret)
    if status == 200:
        print("exists")
        return 0
    status, body = request(host, port, "PUT", f"/{bucket}", access, secret)
    if status != 200:
        print(f"PUT /{bucket} answered {status}: {body[:200]!r}", file=sys.stderr)
        return 1
    print("created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
