"""What the health checks talk to, derived from the topology and the vault, with no I/O of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from deployer.topology.model import Role, StorageType, Topology

# The ports the roles open (deployer/render/ansible.py PORTS, kept in step by a unit test).
APP_HTTP_PORT = 8065
PATRONI_API_PORT = 8008
S3_VIP_PORT = 8333
HTTPS_PORT = 443


@dataclass(frozen=True)
class Endpoint:
    """A named host:port, e.g. an app node or a Patroni REST API."""

    name: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Secrets:
    """Credentials from the environment's vault; None when the vault does not hold them."""

    s3_access_key: str | None = None
    s3_secret_key: str | None = field(default=None, repr=False)
    # A Mattermost personal access token of a system admin: the real server's
    # /api/v4/cluster/status needs one (the stand-in does not).
    mattermost_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Targets:
    """Everything `deployer health` checks in one environment."""

    environment: str
    app_nodes: list[Endpoint]
    vip: Endpoint | None
    site_host: str
    # PEM of the environment's CA: the only issuer the VIP's certificate is trusted from.
    ca_pem: str | None
    patroni: list[Endpoint]
    expected_replicas: int
    max_lag_bytes: int | None
    s3: Endpoint | None
    bucket: str
    secrets: Secrets


def targets_for(
    topology: Topology,
    secrets: Secrets,
    ca_pem: str | None,
) -> Targets:
    endpoint = _client_endpoint(topology)
    databases = topology.with_role(Role.DATABASE)
    site_host = urlsplit(topology.mattermost.site_url).hostname or ""
    return Targets(
        environment=topology.name,
        app_nodes=[Endpoint(h.name, str(h.address), APP_HTTP_PORT) for h in topology.with_role(Role.APP)],
        vip=Endpoint("vip", endpoint, HTTPS_PORT) if endpoint else None,
        site_host=site_host,
        ca_pem=ca_pem,
        patroni=[Endpoint(h.name, str(h.address), PATRONI_API_PORT) for h in databases],
        expected_replicas=max(len(databases) - 1, 0),
        max_lag_bytes=topology.database.max_lag_bytes,
        s3=(
            Endpoint("s3", endpoint, S3_VIP_PORT)
            if endpoint and topology.storage.type is StorageType.S3
            else None
        ),
        bucket=topology.storage.bucket,
        secrets=secrets,
    )


def _client_endpoint(topology: Topology) -> str:
    """The VIP, else the first load balancer (as the renderer does)."""
    if topology.loadbalancer.vip is not None:
        return str(topology.loadbalancer.vip)
    lbs = topology.with_role(Role.LOADBALANCER)
    return str(lbs[0].address) if lbs else ""
