"""The progress file of `upgrade run`: the plan being run and every finished step, written atomically."""

from __future__ import annotations

import os
import tempfile
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from deployer import paths
from deployer.upgrade.errors import UpgradeStateError
from deployer.upgrade.model import UpgradePlan


class RunStatus(StrEnum):
    RUNNING = "running"  # started and not finished: `--resume` continues it
    DONE = "done"
    ROLLED_BACK = "rolled-back"  # a gate failed; the failed unit was undone
    FAILED = "failed"  # a gate failed and the rollback did not complete either


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    started: float
    finished: float | None = None
    gate: list[str] = Field(default_factory=list)


class RunState(BaseModel):
    """Saved after every step; the plan is kept so a resumed run follows it, not a fresh reading."""

    model_config = ConfigDict(extra="forbid")

    plan: UpgradePlan
    status: RunStatus = RunStatus.RUNNING
    steps: list[StepRecord] = Field(default_factory=list)
    message: str = ""

    def done(self) -> set[str]:
        return {r.id for r in self.steps if r.finished is not None}

    def record(self, step_id: str) -> StepRecord | None:
        for record in self.steps:
            if record.id == step_id:
                return record
        return None


def state_file(environment: str) -> Path:
    return paths.state_dir() / "upgrade" / f"{environment}.json"


def load(environment: str) -> RunState | None:
    path = state_file(environment)
    try:
        return RunState.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise UpgradeStateError(
            f"{path} is not a progress file of this deployer: {str(exc).splitlines()[0]}",
            hint="look at it, then move it away to start a new run",
        ) from exc


def save(state: RunState) -> Path:
    """Write to a temporary file, flush to disk and rename: a crash leaves the old or the new file."""
    path = state_file(state.plan.environment)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(state.model_dump_json(indent=1) + "\n")
            out.flush()
            os.fsync(out.fileno())
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def refuse_unfinished(environment: str) -> None:
    """Before reading the cluster for a new run: an unfinished one must be resumed, not restarted."""
    saved = load(environment)
    if saved is not None and saved.status is RunStatus.RUNNING:
        path = state_file(environment)
        raise UpgradeStateError(
            f"an upgrade of {environment} to {saved.plan.target} is unfinished "
            f"({len(saved.done())} of {len(saved.plan.steps)} steps done)",
            hint=f"continue it with --resume --to {saved.plan.target}, or move {path} away "
            "after checking the cluster by hand",
        )


def start_or_resume(environment: str, target: str, resume: bool, fresh: UpgradePlan | None) -> RunState:
    """The state to run: the saved one with `resume`, else a new one (refused over an unfinished run)."""
    saved = load(environment)
    path = state_file(environment)
    if resume:
        if saved is None:
            raise UpgradeStateError(
                f"there is no upgrade of {environment} to resume ({path} does not exist)",
                hint=f"start one: deployer upgrade run -e {environment} --to {target}",
            )
        if saved.plan.target != target:
            raise UpgradeStateError(
                f"the unfinished upgrade of {environment} goes to {saved.plan.target}, not {target}",
                hint=f"resume it with --to {saved.plan.target}",
            )
        if saved.status is not RunStatus.RUNNING:
            raise UpgradeStateError(
                f"the last upgrade of {environment} to {target} is {saved.status}; nothing to resume",
                hint="fix the cause shown by that run, then run again without --resume",
            )
        return saved
    refuse_unfinished(environment)
    if fresh is None:
        raise UpgradeStateError("no plan to run")
    return RunState(plan=fresh)
