"""Executes the plan's own steps over SSH: uploads, commands, gates; a failed gate rolls its unit back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deployer.upgrade import layout as lay
from deployer.upgrade import state as progress
from deployer.upgrade.gates import GateRunner
from deployer.upgrade.model import WORKSTATION, Gate, NodePing, Step, UpgradePlan
from deployer.upgrade.shell import Shell
from deployer.upgrade.state import RunState, RunStatus, StepRecord
from deployer.upgrade.versions import Strategy

Echo = Callable[[str], None]
# A command may take this many times its step's estimate before it is given up (at least 10 min).
COMMAND_TIMEOUT_FACTOR = 6
MIN_COMMAND_TIMEOUT = 600
NODE_BACK_SECONDS = 300


class StepFailedError(Exception):
    """A command or the gate of one step failed; carries the lines that say what."""

    def __init__(self, step: Step, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.step = step
        self.lines = lines


@dataclass
class RunReport:
    environment: str
    target: str
    strategy: Strategy
    status: RunStatus
    seconds: float
    done_now: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed_step: str = ""
    lines: list[str] = field(default_factory=list)
    downtime_seconds: float | None = None

    def summary(self) -> str:
        head = {
            RunStatus.DONE: f"upgrade of {self.environment} to {self.target}: done",
            RunStatus.ROLLED_BACK: f"upgrade of {self.environment} to {self.target}: FAILED at "
            f"{self.failed_step}, rolled back",
            RunStatus.FAILED: f"upgrade of {self.environment} to {self.target}: FAILED at "
            f"{self.failed_step}, ROLLBACK INCOMPLETE",
            RunStatus.RUNNING: f"upgrade of {self.environment} to {self.target}: interrupted",
        }[self.status]
        lines = [
            head,
            (
                f"strategy {self.strategy}, {len(self.done_now)} step(s) run, "
                f"{len(self.skipped)} already done, {self.seconds:.1f}s"
            ),
        ]
        if self.downtime_seconds is not None:
            lines.append(f"downtime window (frontends closed): {self.downtime_seconds:.1f}s")
        return "\n".join(lines + self.lines)


@dataclass
class Runner:
    state: RunState
    shell: Shell
    gates: GateRunner
    bundle_dir: Path
    echo: Echo
    save: Callable[[RunState], object] = progress.save
    clock: Callable[[], float] = time.time

    @property
    def plan(self) -> UpgradePlan:
        return self.state.plan

    def run(self) -> RunReport:
        started = self.clock()
        report = RunReport(
            self.plan.environment, self.plan.target, self.plan.strategy, RunStatus.RUNNING, 0.0
        )
        self.save(self.state)
        total = len(self.plan.steps)
        for number, step in enumerate(self.plan.steps, start=1):
            prefix = f"[{number}/{total}] {step.id}"
            if step.id in self.state.done():
                report.skipped.append(step.id)
                self.echo(f"{prefix}: done in an earlier run, skipped")
                continue
            self.echo(f"{prefix}: {step.title} ({', '.join(step.hosts)})")
            record = self.state.record(step.id)
            if record is None:
                record = StepRecord(id=step.id, started=self.clock())
                self.state.steps.append(record)
            else:
                record.started = self.clock()  # interrupted half-way before: run it again from its start
            self.save(self.state)
            try:
                gate_lines = self._execute(step)
            except StepFailedError as failure:
                report.failed_step = step.id
                report.lines += [f"step {step.id} failed:", *(f"  {line}" for line in failure.lines)]
                report.status = self._roll_back(step, report)
                self.state.status = report.status
                self.state.message = "; ".join(failure.lines)
                break
            record.finished = self.clock()
            record.gate = gate_lines
            self.save(self.state)
            report.done_now.append(step.id)
            for line in gate_lines:
                self.echo(f"    gate: {line}")
            self.echo(f"{prefix}: ok ({record.finished - record.started:.1f}s)")
        else:
            report.status = RunStatus.DONE
            self.state.status = RunStatus.DONE
        self.save(self.state)
        report.seconds = self.clock() - started
        report.downtime_seconds = self._downtime()
        return report

    def _execute(self, step: Step) -> list[str]:
        timeout = max(MIN_COMMAND_TIMEOUT, step.expected_seconds * COMMAND_TIMEOUT_FACTOR)
        for host in step.hosts:
            if host == WORKSTATION:
                continue
            if step.upload is not None:
                self.echo(f"    {host}: copy {step.upload.source} to {step.upload.destination}")
                self.shell.upload(host, self.bundle_dir / step.upload.source, step.upload.destination)
            for command in step.commands:
                outcome = self.shell.run(host, command, timeout=timeout)
                if not outcome.ok:
                    said = (outcome.err or outcome.out).strip().splitlines()[-3:]
                    raise StepFailedError(
                        step, [f"{host}: exit {outcome.code}: {command}", *(f"  {line}" for line in said)]
                    )
        if step.gate is None:
            return []
        result = self.gates.wait(step.gate)
        if not result.ok:
            raise StepFailedError(
                step,
                [
                    f"gate not passed within {step.gate.timeout_seconds}s: {step.gate.description}",
                    *result.details,
                ],
            )
        return result.details

    def _roll_back(self, failed: Step, report: RunReport) -> RunStatus:
        """Undo the failed step, then the finished steps of its unit, newest first."""
        done = self.state.done()
        undo = [failed]
        if failed.unit:
            undo += [s for s in reversed(self.plan.steps) if s.unit == failed.unit and s.id in done]
        complete = True
        for step in undo:
            for rollback in step.rollback:
                if rollback.host == WORKSTATION:
                    continue
                for command in rollback.commands:
                    self.echo(f"    rollback {step.id} on {rollback.host}: {command}")
                    outcome = self.shell.run(rollback.host, command, timeout=MIN_COMMAND_TIMEOUT)
                    if not outcome.ok:
                        complete = False
                        report.lines.append(
                            f"rollback of {step.id} on {rollback.host} FAILED "
                            f"(exit {outcome.code}): {command}"
                        )
        undone = [s.id for s in undo if s.rollback]
        report.lines.append(f"rolled back: {', '.join(undone) or 'nothing had changed yet'}")
        back = self._nodes_back(undo)
        if back is not None:
            report.lines += back.details
            complete = complete and back.ok
        return RunStatus.ROLLED_BACK if complete else RunStatus.FAILED

    def _nodes_back(self, undone: list[Step]) -> _Back | None:
        """After a rollback, every node it touched must answer again on its old version."""
        touched = {r.host for s in undone for r in s.rollback}
        checks = [
            NodePing(node=n.name, address=n.address, port=lay.APP_PORT, version=n.version)
            for n in self.plan.nodes
            if n.name in touched
        ]
        if not checks:
            return None
        gate = Gate(
            description="nodes back on their old release",
            checks=checks,
            by_hand=[],
            timeout_seconds=NODE_BACK_SECONDS,
        )
        result = self.gates.wait(gate)
        verdict = "serving on the old release again" if result.ok else "NOT healthy on the old release"
        return _Back(result.ok, [f"after the rollback: {verdict}", *(f"  {line}" for line in result.details)])

    def _downtime(self) -> float | None:
        closed = self.state.record("close-frontends")
        opened = self.state.record("open-frontends")
        if closed is None or opened is None or opened.finished is None:
            return None
        return opened.finished - closed.started


@dataclass(frozen=True)
class _Back:
    ok: bool
    details: list[str]
