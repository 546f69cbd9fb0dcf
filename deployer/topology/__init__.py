"""Topology: the one source of truth for an environment, loaded into a typed model."""

from __future__ import annotations

from deployer.topology.load import Environment, load_environment, resolve_environment
from deployer.topology.model import Host, Role, Topology

__all__ = ["Environment", "Host", "Role", "Topology", "load_environment", "resolve_environment"]
