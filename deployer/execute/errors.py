"""The named ways a deploy stops."""

from __future__ import annotations

from deployer.errors import DeployerError, ExitCode


class DeployFailedError(DeployerError):
    """Ansible ran and at least one host failed a task or could not be reached."""

    exit_code = ExitCode.CHECK_FAILED


class AnsibleMissingError(DeployerError):
    """ansible-playbook is not installed next to the deployer."""

    exit_code = ExitCode.INTERNAL


class BundleServeError(DeployerError):
    """The bundle cannot be served to the hosts from this machine."""
