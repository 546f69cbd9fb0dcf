"""Named lab errors, each with a message and what the user can do about it."""

from __future__ import annotations

from deployer.errors import DeployerError, ExitCode


class LabError(DeployerError):
    """Something in the lab is not as it should be and the user can fix it."""


class DockerUnavailableError(LabError):
    """The docker client is missing or its daemon does not answer."""


class ImageBuildError(LabError):
    """The base image could not be built; the log says why."""

    exit_code = ExitCode.INTERNAL


class LabClashError(LabError):
    """A name, subnet or address the lab needs is already taken by something else."""


class LabNotUpError(LabError):
    """A command needs a lab environment (or host) that is not there."""


class HostNotReadyError(LabError):
    """A lab host did not reach a running systemd with verified SSH in time."""

    exit_code = ExitCode.CHECK_FAILED
