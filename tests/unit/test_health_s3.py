"""The S3 request signer reproduces AWS's published Signature Version 4 example."""

from __future__ import annotations

import datetime as dt

from deployer.health.s3 import signed_headers


def test_aws_documented_get_object_example() -> None:
    # The "GET Object" example of AWS's SigV4 documentation for S3 (header-based auth).
    headers = signed_headers(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # noqa: S106 - AWS's public example key
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
        extra={"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert (
        headers["x-amz-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_payload_changes_the_signature() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    one = signed_headers("PUT", "h:8333", "/b/k", access_key="a", secret_key="s", payload=b"1", now=when)  # noqa: S106
    two = signed_headers("PUT", "h:8333", "/b/k", access_key="a", secret_key="s", payload=b"2", now=when)  # noqa: S106
    assert one["authorization"] != two["authorization"]
