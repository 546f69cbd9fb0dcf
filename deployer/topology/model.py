"""The typed topology model: what an environment is, independent of any tool that deploys it."""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Platform(StrEnum):
    VM = "vm"
    KUBERNETES = "kubernetes"


class Role(StrEnum):
    APP = "app"
    DATABASE = "database"
    ETCD = "etcd"
    LOADBALANCER = "loadbalancer"
    STORAGE = "storage"
    BASTION = "bastion"


class Edition(StrEnum):
    TEAM = "team"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"
    ENTERPRISE_ADVANCED = "enterprise-advanced"

    @property
    def supports_clustering(self) -> bool:
        return self in {Edition.ENTERPRISE, Edition.ENTERPRISE_ADVANCED}


class StorageType(StrEnum):
    S3 = "s3"
    LOCAL = "local"
    NFS = "nfs"


def version_tuple(value: str) -> tuple[int, int, int]:
    """'10.5.2' -> (10, 5, 2); the value was validated on load."""
    major, minor, patch = (int(p) for p in value.split("."))
    return major, minor, patch


def _check_version(value: str) -> str:
    if not VERSION_RE.match(value):
        msg = f"'{value}' is not a release version; write it as X.Y.Z, e.g. 10.5.2"
        raise ValueError(msg)
    return value


class Mattermost(Strict):
    """The application tier's identity and sizing."""

    version: str = Field(description="Mattermost server release, X.Y.Z (an ESR is preferred).")
    edition: Edition = Field(description="License edition; only enterprise editions cluster.")
    cluster_name: str = Field(
        description="ClusterSettings.ClusterName; nodes join only peers with the same name."
    )
    site_url: str = Field(
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="ServiceSettings.SiteURL, what users type in their browser.",
    )
    license_file: str | None = Field(
        default=None, description="Path to the license file, relative to the environment folder."
    )
    users: int = Field(
        default=2000, ge=1, description="Expected concurrent users; sizes the app tier checks."
    )

    _version = field_validator("version")(_check_version)


class Host(Strict):
    """One machine (VM or bare metal) and what runs on it."""

    name: str = Field(pattern=NAME_PATTERN, description="Short host name, DNS-safe.")
    address: IPv4Address = Field(description="Address on the cluster network.")
    zone: str = Field(min_length=1, description="Failure domain: zone, site or room.")
    rack: str | None = Field(default=None, description="Finer failure domain inside the zone.")
    roles: Annotated[list[Role], Field(min_length=1)] = Field(
        description="What runs here; a host may carry several roles."
    )

    def has(self, role: Role) -> bool:
        return role in self.roles


class Network(Strict):
    subnet: IPv4Network = Field(description="The cluster network; every address lies inside it.")


class LoadBalancer(Strict):
    vip: IPv4Address | None = Field(
        default=None, description="Virtual IP held by one load balancer at a time (VRRP)."
    )
    external: bool = Field(
        default=False, description="True when the site provides its own redundant load balancer."
    )
    tls_certificate: str | None = Field(
        default=None, description="Site certificate (PEM), relative to the environment folder."
    )
    tls_key: str | None = Field(
        default=None, description="Site private key (PEM); kept in the vault once deployed."
    )


class Database(Strict):
    postgresql_version: Literal[15] = Field(default=15, description="PostgreSQL major version.")
    synchronous_replication: bool = Field(
        default=True, description="No acknowledged commit is lost on failover when true."
    )
    max_lag_bytes: int = Field(
        default=16 * 1024 * 1024, ge=0, description="Replica lag above this is unhealthy."
    )
    max_lag_seconds: int = Field(default=30, ge=0, description="Replica lag above this is unhealthy.")


class Storage(Strict):
    type: StorageType = Field(description="s3: SeaweedFS on storage hosts; local/nfs: small sites.")
    replication: int = Field(
        default=2,
        ge=1,
        le=3,
        description="Copies of every object, each in a distinct failure domain.",
    )
    bucket: str = Field(default="mattermost", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    nfs_server: str | None = Field(default=None, description="NFS server, for type nfs.")
    nfs_export: str | None = Field(default=None, description="NFS export path, for type nfs.")


class Bundle(Strict):
    path: str | None = Field(default=None, description="Offline bundle file, relative or absolute.")
    public_key: str | None = Field(
        default=None, description="Trusted Ed25519 public key (PEM) that must have signed it."
    )


class Notifications(Strict):
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Mattermost incoming webhook for deploy, health and drill summaries.",
    )


class AcceptedRisk(Strict):
    rule: str = Field(description="The id of the rule whose risk is accepted.")
    reason: str = Field(min_length=10, description="Why; echoed in every report.")


class Kubernetes(Strict):
    version: str = Field(pattern=r"^1\.\d+$", description="Target Kubernetes minor version, e.g. 1.30.")
    namespace: str = Field(default="mattermost", pattern=NAME_PATTERN)
    registry: str = Field(
        min_length=1, description="The site's internal registry; every image is relocated there."
    )
    app_replicas: int = Field(default=2, ge=1)
    zones: Annotated[list[str], Field(min_length=1)] = Field(
        description="Node zones (topology.kubernetes.io/zone) the app pods spread over."
    )
    ingress_host: str = Field(min_length=1)
    ingress_class: str = Field(default="nginx")
    database: Literal["external", "cloudnativepg"] = Field(default="external")
    external_database_host: str | None = None
    external_s3_endpoint: str | None = None
    mattermost_image: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9.:/_-]+:[A-Za-z0-9_.-]+@sha256:[a-f0-9]{64}$",
        description="Mattermost image as mirrored, repository:tag@sha256:digest (digest required).",
    )
    postgres_image: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9.:/_-]+:[A-Za-z0-9_.-]+@sha256:[a-f0-9]{64}$",
        description="PostgreSQL image for database cloudnativepg, repository:tag@sha256:digest.",
    )
    ingress_namespace: str = Field(
        default="ingress-nginx",
        pattern=NAME_PATTERN,
        description="Namespace of the ingress controller, the only source allowed to port 8065.",
    )
    service_monitor: bool = Field(
        default=False, description="Render a ServiceMonitor (needs the Prometheus operator)."
    )


class Topology(Strict):
    """One environment: the single source of truth the deployer renders and checks."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    name: str = Field(pattern=NAME_PATTERN, description="Environment name.")
    platform: Platform = Field(default=Platform.VM)
    mattermost: Mattermost
    network: Network
    hosts: list[Host] = Field(default_factory=list)
    loadbalancer: LoadBalancer = Field(default_factory=LoadBalancer)
    database: Database = Field(default_factory=Database)
    storage: Storage
    bundle: Bundle = Field(default_factory=Bundle)
    notifications: Notifications = Field(default_factory=Notifications)
    accepted_risks: list[AcceptedRisk] = Field(default_factory=list)
    kubernetes: Kubernetes | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def with_role(self, role: Role) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    @property
    def zones(self) -> list[str]:
        return sorted({h.zone for h in self.hosts})

    def storage_copies_across_zones(self) -> bool:
        """Copies go to distinct zones when there are enough zones, else to distinct racks."""
        zones = {h.zone for h in self.with_role(Role.STORAGE)}
        return len(zones) >= self.storage.replication

    def storage_domain(self, host: Host) -> str:
        """The failure domain a storage host's copy counts against."""
        if self.storage_copies_across_zones() or not host.rack:
            return host.zone
        return f"{host.zone}/{host.rack}"

    def accepted(self, rule: str) -> AcceptedRisk | None:
        for risk in self.accepted_risks:
            if risk.rule == rule:
                return risk
        return None
