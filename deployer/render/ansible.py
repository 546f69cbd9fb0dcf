"""Renders a topology into an Ansible inventory with prefixed group and host variables."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import yaml

from deployer.render.defaults import Pins, load_pins
from deployer.topology.load import Environment
from deployer.topology.model import Host, Role, StorageType, Topology

# Ports the roles open; the firewall opens exactly these, to the cluster subnet.
PORTS = {
    "mattermost_http": 8065,
    "mattermost_gossip": 8074,
    "mattermost_metrics": 8067,
    "postgresql": 5432,
    "patroni_api": 8008,
    "etcd_client": 2379,
    "etcd_peer": 2380,
    "haproxy_https": 443,
    "haproxy_http": 80,
    "haproxy_db_write": 5432,
    "haproxy_db_read": 5433,
    "haproxy_s3": 8333,
    "haproxy_stats": 8404,
    "seaweedfs_master": 9333,
    "seaweedfs_master_grpc": 19333,
    "seaweedfs_volume": 8080,
    "seaweedfs_volume_grpc": 18080,
    "seaweedfs_filer": 8888,
    "seaweedfs_filer_grpc": 18888,
    "seaweedfs_s3": 8333,
    "chrony": 123,
}

# What each role listens on, for the host firewall: (TCP to the cluster subnet, UDP to the
# cluster subnet, TCP to anyone). Only the load balancers face users.
FIREWALL: dict[Role, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    Role.APP: (("mattermost_http", "mattermost_gossip", "mattermost_metrics"), ("mattermost_gossip",), ()),
    Role.DATABASE: (("postgresql", "patroni_api"), (), ()),
    Role.ETCD: (("etcd_client", "etcd_peer"), (), ()),
    Role.LOADBALANCER: (
        ("haproxy_db_write", "haproxy_db_read", "haproxy_s3", "haproxy_stats"),
        (),
        ("haproxy_http", "haproxy_https"),
    ),
    Role.STORAGE: (
        (
            "seaweedfs_master",
            "seaweedfs_master_grpc",
            "seaweedfs_volume",
            "seaweedfs_volume_grpc",
            "seaweedfs_filer",
            "seaweedfs_filer_grpc",
            "seaweedfs_s3",
        ),
        (),
        (),
    ),
}

# Patroni timings: loop_wait + 2 * retry_timeout <= ttl (1 + 2 * 9 = 19), its lowest ttl (roles/patroni).
# A dead leader's key expires within 20 s and a replica is promoted on the next loop (<= 1 s).
PATRONI_TIMINGS = {"ttl": 20, "loop_wait": 1, "retry_timeout": 9}

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

HEADER = "# Rendered by the deployer from {source}; change the topology, not this file.\n"


def render_ansible(env: Environment, out_dir: Path, pins: Pins | None = None) -> list[Path]:
    """Write inventory.yml (hosts with their variables) and group_vars/ under out_dir."""
    pins = pins or load_pins()
    topo = env.topology
    files: dict[str, Any] = {"inventory.yml": inventory(topo)}
    files["group_vars/all.yml"] = all_vars(topo, pins)
    for role, builder in GROUP_BUILDERS.items():
        if topo.with_role(role):
            files[f"group_vars/{role}.yml"] = builder(topo, pins)
    written = []
    header = HEADER.format(source=env.source.file)
    for name in sorted(files):
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.dump(files[name], Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
        path.write_text(header + "---\n" + body, encoding="utf-8")
        written.append(path)
    return written


def inventory(topo: Topology) -> dict[str, Any]:
    children: dict[str, Any] = {}
    for role in Role:
        members = topo.with_role(role)
        if members:
            children[str(role)] = {"hosts": {h.name: None for h in members}}
    return {
        "all": {
            # Host variables live with the host entry: one file for any number of hosts.
            "hosts": {h.name: {"ansible_host": str(h.address), **host_vars(topo, h)} for h in topo.hosts},
            "children": children,
            "vars": {
                "ansible_user": "deployer",
                "ansible_become": True,
                "ansible_python_interpreter": "/usr/bin/python3",
            },
        }
    }


def _endpoint(topo: Topology) -> str:
    """Where clients reach the load balancers: the VIP, else the first load balancer."""
    if topo.loadbalancer.vip is not None:
        return str(topo.loadbalancer.vip)
    lbs = topo.with_role(Role.LOADBALANCER)
    return str(lbs[0].address) if lbs else ""


def all_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    return {
        "deployer_environment": topo.name,
        "deployer_platform": str(topo.platform),
        "deployer_subnet": str(topo.network.subnet),
        "deployer_zones": topo.zones,
        "deployer_endpoint": _endpoint(topo),
        "deployer_os_release": pins.os_release,
        "deployer_ports": PORTS,
        "deployer_accepted_risks": [{"rule": r.rule, "reason": r.reason} for r in topo.accepted_risks],
        "common_chrony_servers": [str(h.address) for h in _time_servers(topo)],
        "deployer_hosts": {
            h.name: {"address": str(h.address), "zone": h.zone, "roles": [str(r) for r in h.roles]}
            for h in topo.hosts
        },
    }


def _time_servers(topo: Topology) -> list[Host]:
    """Clock sources of an air-gapped site: the etcd members (3+, always up), else the first hosts."""
    return topo.with_role(Role.ETCD)[:3] or [h for h in topo.hosts if not h.has(Role.BASTION)][:3]


def app_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    mm = topo.mattermost
    endpoint = _endpoint(topo)
    pattern = str(pins.artifacts["mattermost"]["file_pattern"])
    return {
        "mattermost_version": mm.version,
        "mattermost_edition": str(mm.edition),
        "mattermost_cluster_name": mm.cluster_name,
        "mattermost_site_url": mm.site_url,
        "mattermost_tarball": pattern.format(version=mm.version),
        "mattermost_listen_port": PORTS["mattermost_http"],
        "mattermost_gossip_port": PORTS["mattermost_gossip"],
        "mattermost_metrics_port": PORTS["mattermost_metrics"],
        "mattermost_db_write_host": endpoint,
        "mattermost_db_write_port": PORTS["haproxy_db_write"],
        "mattermost_db_read_host": endpoint,
        "mattermost_db_read_port": PORTS["haproxy_db_read"],
        "mattermost_file_driver": "amazons3" if topo.storage.type is StorageType.S3 else "local",
        "mattermost_s3_endpoint": f"{endpoint}:{PORTS['haproxy_s3']}",
        "mattermost_s3_bucket": topo.storage.bucket,
        "mattermost_nfs_server": topo.storage.nfs_server,
        "mattermost_nfs_export": topo.storage.nfs_export,
        "mattermost_license_file": mm.license_file,
        "mattermost_nodes": [h.name for h in topo.with_role(Role.APP)],
    }


def database_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    db = topo.database
    return {
        "postgresql_version": db.postgresql_version,
        "postgresql_allowed_subnet": str(topo.network.subnet),
        "patroni_scope": f"mattermost-{topo.name}",
        "patroni_members": [
            {"name": h.name, "address": str(h.address), "zone": h.zone} for h in topo.with_role(Role.DATABASE)
        ],
        "patroni_synchronous_mode": db.synchronous_replication,
        "patroni_ttl": PATRONI_TIMINGS["ttl"],
        "patroni_loop_wait": PATRONI_TIMINGS["loop_wait"],
        "patroni_retry_timeout": PATRONI_TIMINGS["retry_timeout"],
        "patroni_max_lag_bytes": db.max_lag_bytes,
        "patroni_max_lag_seconds": db.max_lag_seconds,
        "patroni_version": pins.versions["patroni"],
        "patroni_etcd_hosts": [f"{h.address}:{PORTS['etcd_client']}" for h in topo.with_role(Role.ETCD)],
        "patroni_restapi_port": PORTS["patroni_api"],
        "postgresql_port": PORTS["postgresql"],
    }


def etcd_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    return {
        "etcd_cluster_token": f"mattermost-{topo.name}",
        "etcd_members": [{"name": h.name, "address": str(h.address)} for h in topo.with_role(Role.ETCD)],
        "etcd_version": pins.versions["etcd"],
        "etcd_client_port": PORTS["etcd_client"],
        "etcd_peer_port": PORTS["etcd_peer"],
    }


def loadbalancer_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    lbs = topo.with_role(Role.LOADBALANCER)
    return {
        "haproxy_version": pins.versions["haproxy"],
        "haproxy_app_backends": [
            {"name": h.name, "address": str(h.address), "port": PORTS["mattermost_http"]}
            for h in topo.with_role(Role.APP)
        ],
        "haproxy_db_backends": [
            {
                "name": h.name,
                "address": str(h.address),
                "port": PORTS["postgresql"],
                "check_port": PORTS["patroni_api"],
            }
            for h in topo.with_role(Role.DATABASE)
        ],
        "haproxy_s3_backends": [
            {"name": h.name, "address": str(h.address), "port": PORTS["seaweedfs_s3"]}
            for h in topo.with_role(Role.STORAGE)
        ],
        "haproxy_db_read_max_lag_bytes": topo.database.max_lag_bytes,
        "haproxy_tls_certificate": topo.loadbalancer.tls_certificate,
        "keepalived_vip": str(topo.loadbalancer.vip) if topo.loadbalancer.vip else None,
        "keepalived_prefix": topo.network.subnet.prefixlen,
        "keepalived_router_id": 1 + zlib.crc32(topo.name.encode()) % 254,
        "keepalived_peers": [str(h.address) for h in lbs],
    }


def storage_vars(topo: Topology, pins: Pins) -> dict[str, Any]:
    hosts = topo.with_role(Role.STORAGE)
    return {
        "seaweedfs_version": pins.versions["seaweedfs"],
        "seaweedfs_masters": [f"{h.address}:{PORTS['seaweedfs_master']}" for h in hosts[:3]],
        "seaweedfs_replication": seaweedfs_replication(topo),
        "seaweedfs_bucket": topo.storage.bucket,
        # The filers share ONE metadata store, the etcd cluster: every filer and S3 gateway
        # sees a write at once, so read-after-write holds behind a round-robin balancer.
        "seaweedfs_filer_etcd_hosts": [
            f"{h.address}:{PORTS['etcd_client']}" for h in topo.with_role(Role.ETCD)
        ],
        "seaweedfs_ports": {
            key.removeprefix("seaweedfs_"): port
            for key, port in PORTS.items()
            if key.startswith("seaweedfs_")
        },
    }


def seaweedfs_replication(topo: Topology) -> str:
    """SeaweedFS's 'xyz': extra copies in other data centers, other racks, other servers.

    Zones map to data centers; extra copies go to other zones when there are enough of them,
    else to other racks.
    """
    extra = topo.storage.replication - 1
    return f"{extra}00" if topo.storage_copies_across_zones() else f"0{extra}0"


def host_vars(topo: Topology, host: Host) -> dict[str, Any]:
    values: dict[str, Any] = {"deployer_zone": host.zone, "deployer_rack": host.rack}
    if not host.has(Role.BASTION):
        values.update(firewall_vars(topo, host))
    if host.has(Role.APP):
        values["mattermost_override_hostname"] = host.name
    if host.has(Role.LOADBALANCER):
        lbs = topo.with_role(Role.LOADBALANCER)
        values["keepalived_priority"] = 150 - 10 * [h.name for h in lbs].index(host.name)
    if host.has(Role.STORAGE):
        values["seaweedfs_data_center"] = host.zone
        values["seaweedfs_rack"] = host.rack or host.name
        values["seaweedfs_master"] = host in topo.with_role(Role.STORAGE)[:3]
    return values


def firewall_vars(topo: Topology, host: Host) -> dict[str, Any]:
    """The ports this host's roles serve; the common role opens exactly these and nothing else."""
    cluster_tcp: set[int] = set()
    cluster_udp: set[int] = set()
    public_tcp: set[int] = set()
    for role in host.roles:
        tcp, udp, public = FIREWALL.get(role, ((), (), ()))
        cluster_tcp.update(PORTS[name] for name in tcp)
        cluster_udp.update(PORTS[name] for name in udp)
        public_tcp.update(PORTS[name] for name in public)
    if host in _time_servers(topo):
        cluster_udp.add(PORTS["chrony"])
    values: dict[str, Any] = {
        "common_firewall_cluster_tcp": sorted(cluster_tcp),
        "common_firewall_cluster_udp": sorted(cluster_udp),
        "common_firewall_public_tcp": sorted(public_tcp),
    }
    if host.has(Role.LOADBALANCER):
        values["common_firewall_vrrp_peers"] = [
            str(h.address) for h in topo.with_role(Role.LOADBALANCER) if h.name != host.name
        ]
    return values


GROUP_BUILDERS = {
    Role.APP: app_vars,
    Role.DATABASE: database_vars,
    Role.ETCD: etcd_vars,
    Role.LOADBALANCER: loadbalancer_vars,
    Role.STORAGE: storage_vars,
}
