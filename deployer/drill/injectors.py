"""Fault injectors: lab containers through `deployer.lab.faults`, real hosts by stopping services over SSH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from deployer.errors import DeployerError
from deployer.health.hostchecks import Shell, units_of
from deployer.topology.model import Role, Topology


class InjectionError(DeployerError):
    """A fault could not be injected or undone; the drill stops and says what to heal by hand."""


class Injector(Protocol):
    def inject(self, host: str, fault: str) -> str: ...

    def heal(self, host: str) -> str: ...


@dataclass
class LabInjector:
    """Lab hosts are containers: kill, stop, pause or partition them (`deployer lab fault`)."""

    env: str

    def inject(self, host: str, fault: str) -> str:
        from deployer.lab import faults  # noqa: PLC0415 - the lab is optional for real sites

        return faults.inject(self.env, host, fault)

    def heal(self, host: str) -> str:
        from deployer.lab import faults  # noqa: PLC0415

        done = faults.heal(self.env, host)
        return f"{host}: {', '.join(done) or 'nothing to undo'}"


@dataclass
class ServiceInjector:
    """Real hosts: stop (or SIGKILL) the units of the lost roles over verified SSH; start them to heal."""

    topology: Topology
    shell: Shell
    roles: tuple[Role, ...]
    confirmed: bool
    timeout: float = 60.0

    def _units(self, host: str) -> list[str]:
        target = self.topology.host(host)
        return [u for u, role in units_of(self.topology, target).items() if role in self.roles]

    def _run(self, host: str, command: str) -> None:
        status, _, err = self.shell.run(self.topology.host(host), command, self.timeout)
        if status != 0:
            raise InjectionError(f"{host}: `{command}` exited {status}: {err.strip()[:200]}")

    def inject(self, host: str, fault: str) -> str:
        if not self.confirmed:
            raise InjectionError(
                "a drill on real hosts stops production services",
                hint="run it again with --confirm once the people on call know",
            )
        units = self._units(host)
        if not units:
            return f"{host}: no units of {', '.join(self.roles)} to stop"
        verb = "kill --signal=KILL" if fault == "kill" else "stop"
        self._run(host, f"sudo -n systemctl {verb} {' '.join(units)}")
        return f"{host}: {verb.split(maxsplit=1)[0]} {', '.join(units)}"

    def heal(self, host: str) -> str:
        units = self._units(host)
        if units:
            self._run(host, f"sudo -n systemctl start {' '.join(units)}")
        return f"{host}: started {', '.join(units) or 'nothing'}"
