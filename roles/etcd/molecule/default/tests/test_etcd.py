"""The etcd role on three lab hosts: one TLS-only cluster of every member, healthy, replicating."""

from __future__ import annotations

import json
import socket
import ssl
import uuid

import pytest

from tests.molecule.checks import assert_serving

testinfra_hosts = ["etcd"]

PKI = "/etc/etcd/pki"


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


def etcdctl(hostvars, *args: str, endpoints: str = "", cert: bool = True) -> str:
    url = endpoints or f"https://{hostvars['ansible_host']}:{hostvars['etcd_client_port']}"
    tls = f"--cacert={PKI}/ca.crt"
    if cert:
        tls += f" --cert={PKI}/member.crt --key={PKI}/member.key"
    return (
        f"ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints={url} {tls} "
        + " ".join(args)
    )


def test_the_service_runs_and_listens_on_tls_ports(host, hostvars) -> None:
    assert_serving(host, ["etcd"], hostvars["ansible_host"], [2379, 2380])
    config = host.file("/etc/default/etcd").content_string
    members = ",".join(f"{m['name']}=https://{m['address']}:2380" for m in hostvars["etcd_members"])
    assert f'ETCD_INITIAL_CLUSTER="{members}"\n' in config
    assert 'ETCD_CLIENT_CERT_AUTH="true"\n' in config


def test_every_member_belongs_to_one_cluster(host, hostvars) -> None:
    listed = json.loads(host.check_output(etcdctl(hostvars, "member list -w json")))
    names = sorted(m["name"] for m in listed["members"])
    assert names == sorted(m["name"] for m in hostvars["etcd_members"])
    assert len(names) == 3
    # The package's default single member never ran: its data folder is not there.
    assert host.file("/var/lib/etcd").listdir() == [hostvars["etcd_cluster_token"]]


def test_the_cluster_is_healthy_over_tls(host, hostvars) -> None:
    health = json.loads(host.check_output(etcdctl(hostvars, "endpoint health --cluster -w json")))
    assert len(health) == 3
    assert all(h["health"] for h in health), health


def _answer_without_a_client_certificate(address: str, port: int) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is not what this test is about
    with socket.create_connection((address, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: etcd\r\n\r\n")
        return tls.recv(200)


def test_clients_without_a_certificate_are_refused(host, hostvars) -> None:
    """From this machine (inside the subnet): TLS without a client certificate, and plain HTTP."""
    address, port = hostvars["ansible_host"], hostvars["etcd_client_port"]
    with pytest.raises(ssl.SSLError, match="CERTIFICATE"):
        _answer_without_a_client_certificate(address, port)
    with socket.create_connection((address, port), timeout=5) as plain:
        plain.sendall(b"GET /health HTTP/1.1\r\nHost: etcd\r\n\r\n")
        assert b" 200 " not in plain.recv(200)
    # The same request with the member's certificate is answered: the refusals above are TLS's.
    fetch = (
        "import ssl, urllib.request; "
        f"c = ssl.create_default_context(cafile='{PKI}/ca.crt'); "
        f"c.load_cert_chain('{PKI}/member.crt', '{PKI}/member.key'); "
        f"r = urllib.request.urlopen('https://{address}:{port}/health', context=c, timeout=5); "
        "print(r.read().decode())"
    )
    assert '"health":"true"' in host.check_output(f'python3 -c "{fetch}"')


def test_a_write_through_one_member_is_read_through_the_others(host, hostvars) -> None:
    key = f"/molecule/{hostvars['inventory_hostname']}"
    value = uuid.uuid4().hex
    host.run_expect([0], etcdctl(hostvars, "put", key, value))
    for member in hostvars["etcd_members"]:
        url = f"https://{member['address']}:{hostvars['etcd_client_port']}"
        got = host.check_output(etcdctl(hostvars, "get --print-value-only", key, endpoints=url))
        assert got == value, member["name"]
    host.run_expect([0], etcdctl(hostvars, "del", key))
