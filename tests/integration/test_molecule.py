"""Every role's molecule scenario, for real on the lab: `molecule test` in the role's folder passes.

Scenarios whose topology.yml describes the same lab run one after the other on it: the hosts
stay up between them (DEPLOYER_MOLECULE_KEEP_LAB=1, see tests/molecule/lab.py), and once the
earlier ones passed, a later one skips the prepare plays that only re-apply what they applied
(tagged shared-lab-prerequisite). The labs run side by side, and this module removes all of them
at the end, also when a scenario fails or hangs. `pytest -s` prints each scenario's steps and
times; the full logs stay in pytest's temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployer.lab.docker import require_docker
from tests.conftest import ROOT
from tests.molecule import lab

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]

# The order scenarios run in on a shared lab: each one's prerequisites come first.
ORDER = ("common", "postgresql", "mattermost", "etcd", "patroni", "storage", "loadbalancer")
# deployer_defaults is data only: nothing to converge.
WITHOUT_SCENARIO = {"deployer_defaults"}
SCENARIO_TIMEOUT = 20 * 60
# The settings every scenario shares; each scenario's molecule.yml adds its test sequence.
BASE_CONFIG = ROOT / "tests" / "molecule" / "config.yml"
# Plays of a prepare.yml that re-apply what earlier scenarios on the same lab applied.
SHARED_TAG = "shared-lab-prerequisite"
# molecule's progress lines: "INFO     [default > converge] Executing" ... "Executed: Successful".
STEP = re.compile(r"\[default > (\w+)\] (Executing|Executed)")


def scenario_dir(role: str) -> Path:
    return ROOT / "roles" / role / "molecule" / "default"


def labs() -> dict[str, list[str]]:
    """Roles by the lab their scenario's topology names, in the order they run on it."""
    chains: dict[str, list[str]] = {}
    for role in ORDER:
        topology = yaml.safe_load((scenario_dir(role) / "topology.yml").read_text(encoding="utf-8"))
        chains.setdefault(topology["name"], []).append(role)
    return chains


@dataclass(frozen=True)
class Outcome:
    role: str
    env: str
    returncode: int
    seconds: float
    log: Path
    steps: tuple[tuple[str, float], ...]  # (molecule action, seconds), in order
    after: tuple[str, ...]  # scenarios whose prerequisites this one found on the lab and did not prepare

    def timings(self) -> str:
        return ", ".join(f"{step} {seconds:.0f}" for step, seconds in self.steps)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def molecule_environment() -> dict[str, str]:
    """This virtualenv's molecule, ansible and pytest; no stray ANSIBLE_ or MOLECULE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env[lab.KEEP_ENV] = "1"
    env["NO_COLOR"] = "1"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


class Runner:
    """Runs `molecule test` per role, the roles of one lab in order; stop() kills whatever still runs."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopped = False

    def scenario(self, role: str, env_name: str, *, after: list[str]) -> Outcome:
        """`molecule test`, without the prerequisites `after` (scenarios just passed here) applied."""
        log = self.logs / f"{role}.log"
        argv = [
            str(Path(sys.executable).parent / "molecule"),
            "-c",
            str(BASE_CONFIG),
            "test",
            "-s",
            "default",
        ]
        if after:
            argv += ["--", "--skip-tags", SHARED_TAG]
        started = time.monotonic()
        with self._lock:
            if self._stopped:
                return Outcome(role, env_name, -int(signal.SIGTERM), 0.0, log, (), tuple(after))
            # A session of its own: a timeout or stop() kills molecule and its Ansible at once.
            proc = subprocess.Popen(
                argv,
                cwd=ROOT / "roles" / role,
                env=molecule_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._running.add(proc)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            os.killpg(proc.pid, signal.SIGKILL)

        watchdog = threading.Timer(SCENARIO_TIMEOUT, expire)
        watchdog.start()
        steps: list[tuple[str, float]] = []
        begun: dict[str, float] = {}
        try:
            assert proc.stdout is not None
            with log.open("w", encoding="utf-8") as out:
                for raw in proc.stdout:
                    now = time.monotonic() - started
                    line = raw.decode(errors="replace").rstrip("\n")
                    out.write(f"[{now:7.1f}] {line}\n")
                    if match := STEP.search(line):
                        step, what = match.groups()
                        if what == "Executing":
                            begun[step] = now
                        elif step in begun:
                            steps.append((step, now - begun.pop(step)))
                if expired.is_set():
                    out.write(f"[test_molecule] killed after {SCENARIO_TIMEOUT} s\n")
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            with self._lock:
                self._running.discard(proc)
        seconds = time.monotonic() - started
        return Outcome(role, env_name, returncode, seconds, log, tuple(steps), tuple(after))

    def chain(self, env_name: str, roles: list[str]) -> list[Outcome]:
        """The lab's scenarios in order. After a failure the next ones prepare everything again."""
        outcomes: list[Outcome] = []
        for role in roles:
            passed = all(o.returncode == 0 for o in outcomes)
            outcomes.append(self.scenario(role, env_name, after=[o.role for o in outcomes] if passed else []))
        return outcomes

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for proc in self._running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


def stop_helpers(state: Path) -> None:
    """This run's lab helpers left by a killed molecule (Ansible starts them in sessions of their own)."""
    ours = f"DEPLOYER_STATE_DIR={state}".encode()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tests.molecule.lab" in cmdline and ours in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _interrupted(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    try:
        require_docker()
    except Exception as exc:  # noqa: BLE001 - any reason the engine is missing
        pytest.fail(f"Docker does not answer ({exc}); run `make lab-prereqs` first")
    folder = tmp_path_factory.mktemp("molecule")
    chains = labs()
    runner = Runner(folder)
    pool = ThreadPoolExecutor(max_workers=len(chains))
    state = folder / "state"
    with pytest.MonkeyPatch.context() as patch:
        # Lab keys, vaults and the unpacked bundle of this run only (the subprocesses inherit it).
        patch.setenv("DEPLOYER_STATE_DIR", str(state))
        for env_name in chains:
            lab.teardown(env_name)  # leftovers of an interrupted run must not make this pass
        # A CI job cancelled with SIGTERM still takes its labs down (the finally below).
        previous = signal.signal(signal.SIGTERM, _interrupted)
        try:
            # Built (when missing), verified and unpacked once, before the labs start side by side.
            lab.bundle_release()
            started = time.monotonic()
            futures = [pool.submit(runner.chain, name, roles) for name, roles in chains.items()]
            results = {o.role: o for future in futures for o in future.result()}
            print(f"\nmolecule scenarios on {len(chains)} labs at once: {time.monotonic() - started:.0f} s")
            for role in ORDER:
                o = results[role]
                after = f"; after {', '.join(o.after)}" if o.after else ""
                print(
                    f"  {role:<13} {o.env:<11} {o.seconds:5.0f} s  exit {o.returncode} ({o.timings()}{after})"
                )
            print(f"  logs: {folder}")
            yield results
        finally:
            # Only does something when this run was interrupted.
            runner.stop()
            pool.shutdown(wait=True)
            stop_helpers(state)
            for env_name in chains:
                lab.teardown(env_name)
            signal.signal(signal.SIGTERM, previous)


def test_every_role_but_the_defaults_has_a_scenario() -> None:
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "main.yml").is_file()}
    assert set(ORDER) == roles - WITHOUT_SCENARIO
    for role in ORDER:
        folder = scenario_dir(role)
        assert (folder / "converge.yml").is_file(), role
        assert list((folder / "tests").glob("test_*.py")), role


def test_every_scenario_verifies_host_keys() -> None:
    files = [ROOT / "tests" / "molecule" / "lab.py"]
    config = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    # molecule's own default is False; the inventory's SSH args pin the lab's known_hosts.
    assert config["ansible"]["cfg"]["defaults"]["host_key_checking"] is True
    files += list(BASE_CONFIG.parent.glob("*.yml"))
    for role in ORDER:
        # a scenario's own molecule.yml may only add to the shared settings, never turn checking off
        own = yaml.safe_load((scenario_dir(role) / "molecule.yml").read_text(encoding="utf-8"))
        assert "host_key_checking" not in str(own), role
        files += [p for p in scenario_dir(role).rglob("*") if p.suffix in {".yml", ".py"}]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "StrictHostKeyChecking=no" not in text, path
        assert "host_key_checking: false" not in text.lower(), path
    assert "StrictHostKeyChecking=yes" in files[0].read_text(encoding="utf-8")


@pytest.mark.molecule
@pytest.mark.parametrize("role", ORDER)
def test_molecule_test_passes(outcomes: dict[str, Outcome], role: str) -> None:
    outcome = outcomes[role]
    assert outcome.returncode == 0, (
        f"`molecule test` of {role} on lab {outcome.env} exited {outcome.returncode} after "
        f"{outcome.seconds:.0f} s; full log {outcome.log}; its end:\n{outcome.tail()}"
    )
