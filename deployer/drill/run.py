"""Runs one drill: health first, steady load, the fault, detection and recovery, heal, green, read-back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from deployer.drill.detect import Detector
from deployer.drill.injectors import Injector
from deployer.drill.load import Load
from deployer.drill.measure import Event, Figures, Moments, Op, measure, recovered_at
from deployer.drill.scenarios import Plan, Target
from deployer.errors import DeployerError, ExitCode
from deployer.health.model import HealthReport, Status


class DrillRefusedError(DeployerError):
    """The cluster is not healthy before the drill, or the load does not work before the fault."""

    exit_code = ExitCode.CHECK_FAILED


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


@dataclass(frozen=True)
class Settings:
    warmup: float = 5.0  # load before the fault, to prove it works
    observe_min: float = 30.0  # watch at least this long after the fault (failures can come late)
    settle: float = 5.0  # and this long after recovery
    window: float = 120.0  # give up waiting for recovery after this
    interval: float = 0.25  # pause between load steps
    poll: float = 0.2  # detector polling in concurrent mode
    green_timeout: float = 300.0
    green_poll: float = 5.0


@dataclass(frozen=True)
class Met:
    target: Target
    value: float | None
    ok: bool


@dataclass(frozen=True)
class DrillResult:
    environment: str
    plan: Plan
    moments: Moments
    figures: Figures
    timeline: tuple[tuple[float, str], ...]
    met: tuple[Met, ...]
    green: bool
    injected: tuple[str, ...]
    healed: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.green and all(m.ok for m in self.met)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.passed else ExitCode.CHECK_FAILED


def preflight(report: HealthReport, force: bool) -> str:
    """Refuse a drill on a cluster that is not fully healthy, unless forced; returns a line for the log."""
    if report.status is Status.OK:
        return f"health before the drill: ok ({len(report.checks)} checks)"
    names = ", ".join(c.name for c in report.checks if c.status in {Status.FAIL, Status.WARN})
    if force:
        return f"health before the drill: {report.status} ({names}); going on because of --force"
    raise DrillRefusedError(
        f"the cluster is {report.status} before the drill ({names}); a drill would measure the wrong thing",
        hint="fix it first (`deployer health`), or run with --force to drill anyway",
    )


@dataclass
class Drill:
    environment: str
    plan: Plan
    load: Load
    injector: Injector
    detector: Detector
    health: Callable[[], Status]
    clock: Clock = field(default_factory=RealClock)
    settings: Settings = field(default_factory=Settings)
    concurrent: bool = True
    echo: Callable[[str], None] = lambda _line: None

    def run(self) -> DrillResult:
        s = self.settings
        started = self.clock.now()
        self._say(started, "load started")
        self._load_until(started + s.warmup)
        if not any(e.ok and e.op is Op.WRITE for e in self.load.events):
            first = next((e.error for e in self.load.events if not e.ok), "no request finished")
            raise DrillRefusedError(
                f"the synthetic load fails before any fault: {first}",
                hint="check the VIP, the site certificate and the channel with `deployer health`",
            )
        injected: list[str] = []
        healed: list[str] = []
        fault_at = self.clock.now()
        detected_at: float | None = None
        healed_at: float | None = None
        try:
            for victim in self.plan.victims:
                injected.append(self.injector.inject(victim, self.plan.fault))  # noqa: PERF401 - one at a time: a failed one still heals the earlier
            self._say(fault_at, f"fault injected: {'; '.join(injected)}")
            detected_at = self._observe(fault_at)
        finally:
            # Whatever happened above, undo the fault before anything else.
            healed.extend(self.injector.heal(victim) for victim in self.plan.victims)
            healed_at = self.clock.now()
            self._say(healed_at, f"healed: {'; '.join(healed)}")
        green_at = self._wait_green()
        stopped = self.clock.now()
        verification = self.load.verify()
        moments = Moments(started, fault_at, detected_at, healed_at, green_at, stopped)
        figures = measure(self.load.events, moments, verification)
        return DrillResult(
            self.environment,
            self.plan,
            moments,
            figures,
            timeline(self.load.events, moments),
            tuple(_met(t, figures) for t in self.plan.targets),
            green_at is not None,
            tuple(injected),
            tuple(healed),
        )

    def _say(self, moment: float, text: str) -> None:
        self.echo(f"{moment:10.2f}  {text}")

    def _load_until(self, deadline: float) -> None:
        while self.clock.now() < deadline:
            self.load.step()
            self.clock.sleep(self.settings.interval)

    def _observe(self, fault_at: float) -> float | None:
        """Load and watch until recovered and settled (or the window closes); returns detection time."""
        s = self.settings
        detected: list[float] = []
        stop = threading.Event()
        watcher = None
        if self.concurrent:
            watcher = threading.Thread(target=self._watch, args=(detected, stop), daemon=True)
            watcher.start()
        try:
            while True:
                now = self.clock.now()
                recovered = recovered_at(self.load.events, fault_at)
                done = recovered is not None and now >= max(fault_at + s.observe_min, recovered + s.settle)
                if (done and detected) or now >= fault_at + s.window:
                    break
                self.load.step()
                if not self.concurrent and not detected and self.detector():
                    detected.append(self.clock.now())
                self.clock.sleep(s.interval)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(timeout=5)
        return detected[0] if detected else None

    def _watch(self, detected: list[float], stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                noticed = self.detector()
            except Exception:  # noqa: BLE001 - a detector that cannot ask now may answer later
                noticed = False
            if noticed:
                detected.append(self.clock.now())
                return
            stop.wait(self.settings.poll)

    def _wait_green(self) -> float | None:
        s = self.settings
        deadline = self.clock.now() + s.green_timeout
        while self.clock.now() < deadline:
            if self.health() is Status.OK:
                at = self.clock.now()
                self._say(at, "healthy again")
                return at
            self._load_until(min(self.clock.now() + s.green_poll, deadline))
        self._say(self.clock.now(), f"NOT healthy {s.green_timeout:g} s after healing")
        return None


def _met(target: Target, figures: Figures) -> Met:
    value = getattr(figures, target.figure)
    return Met(target, value, value is not None and value <= target.limit)


def timeline(events: list[Event], moments: Moments) -> tuple[tuple[float, str], ...]:
    """The drill's story, seconds relative to the fault."""
    fault = moments.fault_at
    lines: list[tuple[float, str]] = [
        (moments.load_started, "synthetic load started"),
        (fault, "fault injected"),
    ]
    failures = [e for e in events if not e.ok and e.ended >= fault]
    if failures:
        first = min(failures, key=lambda e: e.ended)
        lines.append((first.ended, f"first failed request ({first.op}: {first.error})"))
        last = max(failures, key=lambda e: e.ended)
        lines.append((last.ended, f"last failed request ({last.op}: {last.error})"))
    if moments.detected_at is not None:
        lines.append((moments.detected_at, "fault detected by the cluster"))
    recovered = recovered_at(events, fault)
    if recovered is not None:
        lines.append((recovered, "first successful write after the fault (recovered)"))
    if moments.healed_at is not None:
        lines.append((moments.healed_at, "fault healed"))
    if moments.green_at is not None:
        lines.append((moments.green_at, "health green again"))
    lines.append((moments.load_stopped, "load stopped; acknowledged writes and files read back"))
    return tuple(sorted(((round(t - fault, 3), text) for t, text in lines), key=lambda x: x[0]))
