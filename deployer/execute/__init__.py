"""Execution: runs the rendered inventory through ansible-playbook with the bundle served to the hosts."""

from __future__ import annotations

from deployer.execute.deploy import DeployOptions, DeployResult, deploy
from deployer.execute.errors import DeployFailedError

__all__ = ["DeployFailedError", "DeployOptions", "DeployResult", "deploy"]
