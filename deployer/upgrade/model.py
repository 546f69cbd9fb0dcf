"""The upgrade plan as data: steps with hosts, exact commands, a gate, a duration and rollback commands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from deployer.upgrade.versions import Strategy

# Where a step runs when it is done from the operator's machine, not on a cluster host.
WORKSTATION = "workstation"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodePing(_Model):
    """The node's deep ping answers OK (database, file store) from the target release."""

    kind: Literal["node-ping"] = "node-ping"
    node: str
    address: str
    port: int
    version: str


class ClusterAgrees(_Model):
    """Cluster status lists these nodes alive on `version` (and, with `same_config`, one config hash)."""

    kind: Literal["cluster"] = "cluster"
    ask: list[str] = Field(description="Addresses of app nodes to ask, in order, host:port.")
    nodes: list[str]
    version: str
    same_config: bool = False


class CommandSucceeds(_Model):
    """A command exits 0 on every listed host (retried until the gate's timeout)."""

    kind: Literal["command"] = "command"
    hosts: list[str]
    command: str


Check = Annotated[NodePing | ClusterAgrees | CommandSucceeds, Field(discriminator="kind")]


class Gate(_Model):
    """What must be true after a step before the next one starts; checked by people and the deployer."""

    description: str
    checks: list[Check]
    by_hand: list[str] = Field(description="Commands a person runs to check the same thing.")
    timeout_seconds: int = 120


class Upload(_Model):
    """A file from the verified bundle copied to the step's hosts before its commands run."""

    source: str = Field(description="Path inside the unpacked bundle.")
    destination: str
    sha256: str
    size: int


class Rollback(_Model):
    """Commands that undo a step on one host."""

    host: str
    commands: list[str]


class Phase(StrEnum):
    PREPARE = "prepare"  # nothing users notice: backups, staging the release
    CHANGE = "change"  # the cluster changes; a failure here is rolled back
    VERIFY = "verify"


class Step(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    title: str
    phase: Phase
    hosts: list[str] = Field(description="Run the commands on each, in this order.")
    why: str = ""
    upload: Upload | None = None
    commands: list[str]
    gate: Gate | None = None
    expected_seconds: int
    rollback: list[Rollback] = Field(default_factory=list)
    unit: str = Field(
        default="",
        description="Steps undone together: a failure rolls back the failed step, then the completed "
        "steps of the same unit in reverse order.",
    )


class Backup(_Model):
    what: str
    host: str
    path: str
    estimated_bytes: int | None


class NodeState(_Model):
    """An app node as read from the live cluster before planning."""

    name: str
    address: str
    version: str
    release_dir: str


class UpgradePlan(_Model):
    schema_version: Literal[1] = 1
    environment: str
    target: str
    strategy: Strategy
    nodes: list[NodeState]
    tarball: str
    tarball_sha256: str
    release_dir: str
    backup_dir: str
    backups: list[Backup]
    notes: list[str]
    steps: list[Step]

    @property
    def expected_seconds(self) -> int:
        return sum(step.expected_seconds * len(step.hosts) for step in self.steps)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
