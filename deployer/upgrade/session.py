"""Wires the pieces for the CLI: environment, verified bundle, SSH, the live reading and the plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployer.topology import Environment, Role
from deployer.upgrade.bundle import find_tarball
from deployer.upgrade.errors import UpgradeRefusedError
from deployer.upgrade.live import HttpVersionReader, VersionReader, read_nodes, read_sizes
from deployer.upgrade.model import UpgradePlan
from deployer.upgrade.planner import NODE_READY_SECONDS, build_plan
from deployer.upgrade.shell import SshShell
from deployer.upgrade.versions import Version

Echo = Callable[[str], None]


@dataclass
class Prepared:
    plan: UpgradePlan
    bundle_dir: Path


def ssh_shell(env: Environment) -> SshShell:
    """The lab's own key and known_hosts when the lab runs the environment, else the user's."""
    from deployer.execute.deploy import lab_ssh  # noqa: PLC0415 - pulls in the deploy machinery

    access = lab_ssh(env.name)
    known = access.known_hosts if access and access.known_hosts else Path.home() / ".ssh" / "known_hosts"
    key = access.private_key if access else None
    addresses = {h.name: str(h.address) for h in env.topology.hosts}
    return SshShell(addresses, known, key)


def prepare(
    env: Environment,
    target_text: str,
    *,
    bundle: Path | None,
    echo: Echo,
    shell: SshShell,
    versions: VersionReader | None = None,
    node_timeout: int = NODE_READY_SECONDS,
) -> Prepared:
    target = Version.parse(target_text)
    if str(target) != target_text:
        raise UpgradeRefusedError(f"'{target_text}' is not a release version; write X.Y.Z, e.g. {target}")
    if not env.topology.with_role(Role.APP):
        raise UpgradeRefusedError(f"{env.name} has no app nodes (platform {env.topology.platform})")
    from deployer.execute.deploy import prepare_bundle  # noqa: PLC0415

    manifest, bundle_dir = prepare_bundle(env, bundle, echo)
    tarball = find_tarball(manifest, env.name, str(target))
    echo("reading the live cluster")
    nodes = read_nodes(env.topology, versions or HttpVersionReader(), shell)
    sizes = read_sizes(env.topology, nodes[0].name, shell)
    plan = build_plan(env.topology, nodes, target, tarball, sizes, node_timeout=node_timeout)
    return Prepared(plan, bundle_dir)
