"""The mattermost role on a lab host: the bundle's release, its config without secrets, a healthy node."""

from __future__ import annotations

import json
import uuid

import pytest

from deployer.health.http import request
from tests.integration.datatier_probes import S3
from tests.molecule.checks import assert_serving
from tests.molecule.lab import read_secrets

testinfra_hosts = ["app"]

CHANNEL = "molecu1echanne100000000000"  # any 26-character id: the stand-in has no channels


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def api(hostvars, method: str, path: str, body: bytes | None = None):
    return request(
        method, hostvars["ansible_host"], hostvars["mattermost_listen_port"], path, timeout=10, body=body
    )


def test_the_release_from_the_bundle_is_the_current_one(host, hostvars) -> None:
    tarball = hostvars["mattermost_tarball"]
    sha = hostvars["deployer_bundle_checksums"][f"mattermost/{tarball}"]
    home = host.file("/opt/mattermost")
    assert home.is_symlink
    assert home.linked_to == f"/opt/mattermost-releases/{hostvars['mattermost_version']}-{sha[:12]}"
    assert host.file("/opt/mattermost/bin/mattermost").is_executable
    assert host.file("/opt/mattermost/config").linked_to == "/var/opt/mattermost/config"


def test_secrets_stay_out_of_config_json(host, hostvars) -> None:
    secrets = read_secrets(hostvars["deployer_environment"])
    config = host.file("/var/opt/mattermost/config/config.json")
    assert (config.user, config.group, config.mode) == ("root", "mattermost", 0o640)
    settings = json.loads(config.content_string)
    assert settings["ClusterSettings"]["ClusterName"] == hostvars["mattermost_cluster_name"]
    assert settings["FileSettings"]["DriverName"] == "amazons3"
    for secret in (secrets.mattermost_db_password, secrets.s3_secret_key, secrets.s3_access_key):
        assert secret not in config.content_string
    overrides = host.file("/etc/mattermost/mattermost.env")
    assert (overrides.user, overrides.mode) == ("root", 0o600)
    assert secrets.s3_secret_key in overrides.content_string


def test_the_service_runs_and_its_deep_ping_is_ok(host, hostvars) -> None:
    assert_serving(host, ["mattermost"], hostvars["ansible_host"], [hostvars["mattermost_listen_port"]])
    ping = api(hostvars, "GET", "/api/v4/system/ping?get_server_status=true")
    assert ping.status == 200, ping.body
    doc = ping.json()
    assert (doc["status"], doc["database_status"], doc["filestore_status"]) == ("OK", "OK", "OK")


def test_the_node_reports_itself_in_its_cluster(hostvars) -> None:
    status = api(hostvars, "GET", "/api/v4/cluster/status")
    assert status.status == 200
    nodes = status.json()
    assert [(n["hostname"], n["version"], n["is_alive"]) for n in nodes] == [
        (hostvars["mattermost_override_hostname"], hostvars["mattermost_version"], True)
    ]


def test_a_post_and_a_file_round_trip_through_the_database_and_s3(hostvars) -> None:
    message = f"molecule {uuid.uuid4()}"
    created = api(
        hostvars, "POST", "/api/v4/posts", json.dumps({"channel_id": CHANNEL, "message": message}).encode()
    )
    assert created.status == 201, created.body
    post = api(hostvars, "GET", f"/api/v4/posts/{created.json()['id']}")
    assert (post.status, post.json()["message"]) == (200, message)
    content = uuid.uuid4().bytes
    upload = api(hostvars, "POST", f"/api/v4/files?channel_id={CHANNEL}&filename=molecule.bin", content)
    assert upload.status == 201, upload.body
    file_id = upload.json()["file_infos"][0]["id"]
    got = api(hostvars, "GET", f"/api/v4/files/{file_id}")
    assert (got.status, got.body) == (200, content)
    # The bytes live in the S3 bucket, not on the node's disk.
    secrets = read_secrets(hostvars["deployer_environment"])
    s3 = S3(hostvars["ansible_host"], 8333, secrets.s3_access_key, secrets.s3_secret_key)
    status, listing = s3.request("GET", f"/{hostvars['mattermost_s3_bucket']}")
    assert status == 200
    assert f"/{file_id}/molecule.bin</Key>".encode() in listing
