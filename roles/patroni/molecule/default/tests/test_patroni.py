"""The patroni role on three lab hosts: a leader, two streaming replicas (one synchronous), the app's DB."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.integration.datatier_probes import connect, http_json
from tests.molecule.checks import assert_serving
from tests.molecule.lab import read_secrets

testinfra_hosts = ["database"]

PATRONICTL = "patronictl -c /etc/patroni/config.yml"
REPLICATION = "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1"


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def members(host) -> dict[str, dict[str, object]]:
    listed = json.loads(host.check_output(f"{PATRONICTL} list -f json"))
    return {str(m["Member"]): m for m in listed}


@pytest.fixture(scope="module")
def leader(members) -> str:
    leaders = [name for name, m in members.items() if m["Role"] == "Leader"]
    assert len(leaders) == 1, members
    return leaders[0]


def sql(host, query: str) -> str:
    return host.check_output(f"sudo -u postgres psql -XAtc {json.dumps(query)}")


def test_patroni_runs_postgresql_and_its_api(host, hostvars) -> None:
    assert_serving(host, ["patroni"], hostvars["ansible_host"], [8008, 5432])
    # PostgreSQL runs under Patroni only: the package's default cluster was never created.
    assert host.check_output("pg_lsclusters -h") == ""
    assert sql(host, "SHOW ssl") == "on"


def test_every_member_is_in_one_cluster_with_one_leader(host, hostvars, members, leader) -> None:
    assert sorted(members) == sorted(m["name"] for m in hostvars["patroni_members"])
    assert all(m["Cluster"] == hostvars["patroni_scope"] for m in members.values())
    assert all(m["State"] == "running" for m in members.values()), members
    assert sorted(str(m["Role"]) for m in members.values()) == ["Leader", "Replica", "Sync Standby"]
    recovery = sql(host, "SELECT pg_is_in_recovery()")
    assert recovery == ("f" if hostvars["inventory_hostname"] == leader else "t")


def test_the_leader_streams_to_both_replicas_one_synchronously(host, hostvars, members, leader) -> None:
    if hostvars["inventory_hostname"] != leader:
        pytest.skip("replication is seen from the leader")
    rows = [line.split("|") for line in sql(host, REPLICATION).splitlines()]
    sync = next(name for name, m in members.items() if m["Role"] == "Sync Standby")
    replica = next(name for name, m in members.items() if m["Role"] == "Replica")
    assert sorted(rows) == sorted([[sync, "streaming", "sync"], [replica, "streaming", "async"]])
    assert sql(host, "SHOW synchronous_standby_names") == f'"{sync}"'


def test_the_rest_api_answers_what_the_load_balancers_check(hostvars, leader) -> None:
    url = f"http://{hostvars['ansible_host']}:{hostvars['patroni_restapi_port']}"
    is_leader = hostvars["inventory_hostname"] == leader
    assert http_json(f"{url}/primary")[0] == (200 if is_leader else 503)
    assert http_json(f"{url}/replica")[0] == (503 if is_leader else 200)


def test_a_replica_reports_its_timeline_read_over_its_local_replication_connection(hostvars, leader) -> None:
    """Patroni reads it for every REST answer (so for every load balancer check) through 127.0.0.1."""
    if hostvars["inventory_hostname"] == leader:
        pytest.skip("only a replica reads its timeline over a replication connection")
    url = f"http://{hostvars['ansible_host']}:{hostvars['patroni_restapi_port']}/patroni"
    status, body = http_json(url)
    assert status == 200
    assert isinstance(body, dict)
    assert isinstance(body.get("timeline"), int), body
    assert body["timeline"] >= 1


def test_the_app_writes_on_the_leader_and_every_replica_reads_it(hostvars, leader) -> None:
    """As Mattermost will: its own role and database, a password over the network, then replication."""
    password = read_secrets(hostvars["deployer_environment"]).mattermost_db_password
    addresses = {m["name"]: m["address"] for m in hostvars["patroni_members"]}
    marker = uuid.uuid4().hex
    conn = connect(addresses[leader], 5432, password)
    try:
        with conn, conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("CREATE TABLE IF NOT EXISTS molecule (note text PRIMARY KEY)")
            cur.execute("INSERT INTO molecule VALUES (%s)", (marker,))
    finally:
        conn.close()  # type: ignore[attr-defined]
    for name, address in addresses.items():
        if name == leader:
            continue
        # The synchronous standby had the row before the commit returned; the other one replays
        # it within moments.
        deadline = time.monotonic() + 15
        while True:
            conn = connect(address, 5432, password)
            try:
                with conn, conn.cursor() as cur:  # type: ignore[attr-defined]
                    cur.execute("SELECT pg_is_in_recovery(), to_regclass('molecule') IS NOT NULL")
                    recovery, tables = cur.fetchone()
                    found = 0
                    if tables:
                        cur.execute("SELECT count(*) FROM molecule WHERE note = %s", (marker,))
                        found = cur.fetchone()[0]
            finally:
                conn.close()  # type: ignore[attr-defined]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (recovery, found) == (True, 1), name
