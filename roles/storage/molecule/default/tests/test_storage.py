"""The storage role on three lab hosts: a raft of masters, copies across zones, filers on etcd, S3."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from tests.integration.datatier_probes import S3, http_json
from tests.molecule.checks import assert_serving
from tests.molecule.lab import read_secrets

testinfra_hosts = ["storage"]

UNITS = ("seaweedfs-master", "seaweedfs-volume", "seaweedfs-filer")


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def gateways(hostvars) -> dict[str, S3]:
    secrets = read_secrets(hostvars["deployer_environment"])
    hosts = hostvars["deployer_hosts"]
    return {
        name: S3(
            h["address"], hostvars["seaweedfs_ports"]["s3"], secrets.s3_access_key, secrets.s3_secret_key
        )
        for name, h in sorted(hosts.items())
        if "storage" in h["roles"]
    }


def _master(hostvars, path: str) -> dict[str, object]:
    status, body = http_json(
        f"http://{hostvars['ansible_host']}:{hostvars['seaweedfs_ports']['master']}{path}"
    )
    assert status == 200, path
    assert isinstance(body, dict)
    return body


def test_every_server_runs_and_listens(host, hostvars) -> None:
    assert hostvars["seaweedfs_master"] is True
    ports = [hostvars["seaweedfs_ports"][name] for name in ("master", "volume", "filer", "s3")]
    assert_serving(host, UNITS, hostvars["ansible_host"], ports)


def test_the_masters_agree_on_one_leader(hostvars) -> None:
    port = hostvars["seaweedfs_ports"]["master"]
    statuses = {m: http_json(f"http://{m}/cluster/status")[1] for m in hostvars["seaweedfs_masters"]}
    assert len(statuses) == 3
    leaders = {str(s["Leader"]).rsplit(".", 1)[0] for s in statuses.values()}  # type: ignore[index]
    assert len(leaders) == 1, statuses
    (leader,) = leaders
    assert leader in hostvars["seaweedfs_masters"]
    mine = statuses[f"{hostvars['ansible_host']}:{port}"]
    assert mine.get("IsLeader", False) is (leader == f"{hostvars['ansible_host']}:{port}")  # type: ignore[union-attr]
    assert len(mine["Peers"]) == 2  # type: ignore[index]


def test_each_volume_server_is_registered_in_its_zone_and_rack(hostvars) -> None:
    topology = _master(hostvars, "/vol/status")["Volumes"]["DataCenters"]  # type: ignore[index]
    for name, h in hostvars["deployer_hosts"].items():
        assert f"{h['address']}:{hostvars['seaweedfs_ports']['volume']}" in topology[h["zone"]][name], name


def test_the_filers_keep_their_metadata_in_etcd(host, hostvars, gateways) -> None:
    """An object written through this host's gateway appears under the filers' etcd prefix."""
    key = f"molecule/{uuid.uuid4().hex}"
    bucket = hostvars["seaweedfs_bucket"]
    assert gateways[hostvars["inventory_hostname"]].put(bucket, key, b"metadata in etcd") == 200
    store = host.file("/etc/seaweedfs/filer.toml").content_string
    assert f'servers = "{",".join(hostvars["seaweedfs_filer_etcd_hosts"])}"' in store
    assert f'key_prefix = "seaweedfs.{hostvars["deployer_environment"]}."' in store
    prefix = f"seaweedfs.{hostvars['deployer_environment']}./buckets/{bucket}/molecule"
    keys = host.check_output(
        "ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s "
        f"--endpoints=https://{hostvars['seaweedfs_filer_etcd_hosts'][0]} --cacert=/etc/seaweedfs/ca.crt "
        "--cert=/etc/seaweedfs/client.crt --key=/etc/seaweedfs/client.key "
        f"get --prefix --keys-only {prefix}"
    )
    assert key.split("/")[1] in keys


def test_the_bucket_serves_a_write_through_any_gateway_from_every_other(hostvars, gateways) -> None:
    bucket = hostvars["seaweedfs_bucket"]
    mine = gateways[hostvars["inventory_hostname"]]
    status, listing = mine.request("GET", "/")
    assert status == 200
    assert f"<Name>{bucket}</Name>".encode() in listing
    key = f"molecule/{uuid.uuid4().hex}"
    body = f"written through {hostvars['inventory_hostname']}".encode()
    assert mine.put(bucket, key, body) == 200
    # One shared filer store: every other gateway reads it at once, no waiting.
    assert {name: g.get(bucket, key) for name, g in gateways.items()} == dict.fromkeys(gateways, (200, body))


def test_every_volume_of_the_bucket_has_a_copy_in_another_zone(hostvars) -> None:
    assert hostvars["seaweedfs_replication"] == "100"
    topology = _master(hostvars, "/vol/status")["Volumes"]["DataCenters"]  # type: ignore[index]
    zones: dict[int, list[str]] = defaultdict(list)
    for zone, racks in topology.items():
        for servers in racks.values():
            for volumes in servers.values():
                for volume in volumes:
                    if volume["Collection"] == hostvars["seaweedfs_bucket"]:
                        assert volume["ReplicaPlacement"] == {"dc": 1}
                        zones[volume["Id"]].append(zone)
    assert zones, "the bucket has no volumes yet"
    assert all(len(z) == 2 and len(set(z)) == 2 for z in zones.values()), zones
