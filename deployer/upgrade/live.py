"""Reads what the plan starts from: each app node's running version, release folder and backup sizes."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol

from deployer.health.http import HttpError, request
from deployer.topology.model import Role, StorageType, Topology
from deployer.upgrade import layout as lay
from deployer.upgrade.errors import LiveStateError
from deployer.upgrade.model import NodeState
from deployer.upgrade.planner import Sizes
from deployer.upgrade.shell import Shell

PING = "/api/v4/system/ping"
_DB_SIZE = (
    "import os,psycopg2;c=psycopg2.connect(os.environ['MM_SQLSETTINGS_DATASOURCE']);k=c.cursor();"
    "k.execute('select pg_database_size(current_database())');print(k.fetchone()[0])"
)


class VersionReader(Protocol):
    """The release one app node runs, as the node itself reports it."""

    def version(self, address: str, port: int) -> str: ...


@dataclass(frozen=True)
class HttpVersionReader:
    """From the node's ping: the X-Version-Id header (X.Y.Z.build...) or the stand-in's `version` field."""

    timeout: float = 10.0

    def version(self, address: str, port: int) -> str:
        try:
            answer = request("GET", address, port, PING, timeout=self.timeout)
        except HttpError as exc:
            raise LiveStateError(
                f"{address}:{port} does not answer its ping: {exc}",
                hint="every app node must be up before an upgrade; check with `deployer health -e ENV`",
            ) from exc
        header = answer.headers.get("x-version-id", "")
        if header:
            return ".".join(header.split(".")[:3])
        try:
            body = answer.json()
        except HttpError:
            body = {}
        if isinstance(body, dict) and isinstance(body.get("version"), str):
            return str(body["version"])
        raise LiveStateError(f"{address}:{port} answered its ping without a version (HTTP {answer.status})")


def read_nodes(topology: Topology, versions: VersionReader, shell: Shell) -> list[NodeState]:
    nodes = []
    for host in topology.with_role(Role.APP):
        version = versions.version(str(host.address), lay.APP_PORT)
        outcome = shell.run(host.name, f"readlink -e {lay.HOME}", timeout=30)
        release = outcome.out.strip()
        if not outcome.ok or not release.startswith(f"{lay.RELEASES}/"):
            raise LiveStateError(
                f"{host.name}: {lay.HOME} is not a link to a release under {lay.RELEASES} "
                f"({(outcome.err or outcome.out).strip() or 'no answer'})",
                hint="deploy the node with `deployer deploy` first; upgrades start from the role's layout",
            )
        nodes.append(
            NodeState(name=host.name, address=str(host.address), version=version, release_dir=release)
        )
    return nodes


def read_sizes(topology: Topology, backup_host: str, shell: Shell) -> Sizes:
    """Sizes for the runbook; an unreadable one is reported as unknown, never a reason to stop."""

    def number(command: str) -> int | None:
        outcome = shell.run(backup_host, command, timeout=60)
        text = outcome.out.strip().split("\t")[0] if outcome.ok else ""
        return int(text) if text.isdigit() else None

    local = topology.storage.type is not StorageType.S3
    return Sizes(
        database=number(lay.with_app_env(f"exec python3 -c {shlex.quote(_DB_SIZE)}")),
        config=number(f"sudo du -sb {lay.STATE}/config"),
        data=number(f"sudo du -sb {lay.STATE}/data") if local else None,
    )
