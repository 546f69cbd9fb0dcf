"""Sizes a topology skeleton from the reference architectures so that it passes every rule."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from deployer.sizing import reference_for
from deployer.topology.model import Platform

ZONES = ("zone-a", "zone-b", "zone-c")


def skeleton(users: int, platform: Platform, name: str = "site") -> dict[str, Any]:
    """A topology (as plain data, ready to dump as YAML) for `users` concurrent users."""
    ref = reference_for(users)
    # Upstream's table is sized for load; HA adds a node where one loss would drop capacity.
    app_nodes = max(ref.app_nodes + 1 if ref.app_nodes > 2 else 2, 2)  # noqa: PLR2004
    if app_nodes * ref.users_per_app_node - ref.users_per_app_node < users:
        app_nodes += 1
    base: dict[str, Any] = {
        "schema": 1,
        "name": name,
        "platform": str(platform),
        "mattermost": {
            "version": "10.5.2",
            "edition": "enterprise",
            "cluster_name": f"mm-{name}",
            "site_url": f"https://chat.{name}.example.internal",
            "license_file": "mattermost.license",
            "users": users,
        },
        "database": {"postgresql_version": 15, "synchronous_replication": True},
        "storage": {"type": "s3", "replication": 2, "bucket": "mattermost"},
    }
    if platform is Platform.KUBERNETES:
        base["network"] = {"subnet": "10.80.0.0/24"}
        base["kubernetes"] = {
            "version": "1.30",
            "namespace": "mattermost",
            "registry": f"registry.{name}.example.internal",
            "app_replicas": app_nodes,
            "zones": list(ZONES),
            "ingress_host": f"chat.{name}.example.internal",
            "external_database_host": f"pg.{name}.example.internal",
            "external_s3_endpoint": f"s3.{name}.example.internal:8333",
            # mattermost_image is left out on purpose: only the site knows the digest it mirrored.
        }
        return base
    subnet = IPv4Network("10.80.0.0/23")
    hosts: list[dict[str, Any]] = []

    next_address = [11]

    def add(prefix: str, count: int, roles: list[str], start: int | None = None) -> None:
        for i in range(count):
            offset = start + i if start is not None else next_address[0]
            if start is None:
                next_address[0] += 1
            hosts.append(
                {
                    "name": f"{name}-{prefix}{i + 1}",
                    "address": str(subnet.network_address + offset),
                    "zone": ZONES[i % len(ZONES)],
                    "roles": roles,
                }
            )

    db_members = max(3, 1 + ref.db_readers)
    add("bastion", 1, ["bastion"], 5)
    add("lb", max(2, ref.proxies), ["loadbalancer"])
    add("app", app_nodes, ["app"])
    add("db", db_members, ["database"])
    add("etcd", 3, ["etcd"])
    add("st", 3, ["storage"])
    base["network"] = {"subnet": str(subnet)}
    base["loadbalancer"] = {"vip": str(subnet.network_address + 10)}
    base["hosts"] = hosts
    return base
