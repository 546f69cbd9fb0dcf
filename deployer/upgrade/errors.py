"""The named reasons an upgrade is refused or stops, each with what to do about it."""

from __future__ import annotations

from deployer.errors import DeployerError, ExitCode


class UpgradeRefusedError(DeployerError):
    """The requested upgrade breaks one of Mattermost's rules (downgrade, skipped minor, mixed cluster)."""


class TargetNotInBundleError(DeployerError):
    """The target release tarball is not in the verified bundle, so it cannot reach the hosts."""


class LiveStateError(DeployerError):
    """The live cluster could not be read, so no safe plan can be made."""

    exit_code = ExitCode.CHECK_FAILED


class UpgradeStateError(DeployerError):
    """The progress file does not fit the plan being run (another target, or a changed plan)."""


class UpgradeFailedError(DeployerError):
    """A step or gate failed during `upgrade run`; what was rolled back is in the message."""

    exit_code = ExitCode.CHECK_FAILED
