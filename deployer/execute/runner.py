"""Runs ansible-playbook as a child process: settings, SSH trust, progress on the terminal, recap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deployer import paths
from deployer.execute.errors import AnsibleMissingError

PLAYBOOKS_DIR = paths.PACKAGE_DIR / "playbooks"
CALLBACK_DIR = Path(__file__).resolve().parent / "callback"
PROJECT_CFG = PLAYBOOKS_DIR / "ansible.cfg"
# What the deployer needs from Ansible whatever the settings: its callback, strict host keys.
BASELINE_CFG = """[defaults]
stdout_callback = deployer
host_key_checking = true
interpreter_python = /usr/bin/python3
retry_files_enabled = false
force_handlers = true
"""

Echo = Callable[[str], None]


@dataclass(frozen=True)
class SshAccess:
    """How ansible-playbook logs in: the key and the ONLY known_hosts file it trusts."""

    user: str = "deployer"
    private_key: Path | None = None
    known_hosts: Path | None = None

    def ssh_args(self, control_dir: Path) -> str:
        args = [
            "-o ControlMaster=auto",
            "-o ControlPersist=120s",
            f"-o ControlPath={control_dir}/%C",
            "-o StrictHostKeyChecking=yes",
            "-o PasswordAuthentication=no",
            "-o ConnectTimeout=10",
            "-o ServerAliveInterval=5",
            "-o ServerAliveCountMax=3",
        ]
        if self.known_hosts is not None:
            args += [
                f"-o UserKnownHostsFile={self.known_hosts.resolve()}",
                "-o GlobalKnownHostsFile=/dev/null",
            ]
        if self.private_key is not None:
            args.append("-o IdentitiesOnly=yes")
        return " ".join(args)


@dataclass(frozen=True)
class HostRecap:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    play: str
    message: str


@dataclass
class PlaybookRun:
    """What one ansible-playbook run did, read from the callback's recap."""

    returncode: int
    log_file: Path
    seconds: float = 0.0
    hosts: dict[str, HostRecap] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failures

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())


@dataclass(frozen=True)
class PlaybookRequest:
    playbook: Path
    inventory: Path
    extra_vars_files: tuple[Path, ...] = ()
    vault_password_file: Path | None = None
    ssh: SshAccess = field(default_factory=SshAccess)
    log_file: Path = Path("deploy.log")
    fact_cache: Path | None = None
    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: str | None = None
    tuned: bool = True  # the project's ansible.cfg; False = Ansible's defaults (benchmarks)


def ansible_playbook() -> str:
    """The ansible-playbook installed with the deployer (same virtualenv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise AnsibleMissingError(
            "ansible-playbook is not installed",
            hint="install the deployer with its dependencies (ansible-core)",
        )
    return found


def command_line(request: PlaybookRequest) -> list[str]:
    # ansible-playbook runs in a scratch folder: every path it gets is absolute.
    argv = [ansible_playbook(), "-i", str(request.inventory.resolve())]
    for extra in request.extra_vars_files:
        argv += ["-e", f"@{extra.resolve()}"]
    if request.vault_password_file is not None:
        argv += ["--vault-password-file", str(request.vault_password_file.resolve())]
    if request.ssh.private_key is not None:
        argv += ["--private-key", str(request.ssh.private_key.resolve())]
    argv += ["-u", request.ssh.user]
    if request.check:
        argv.append("--check")
    if request.diff:
        argv.append("--diff")
    if request.limit:
        argv += ["--limit", request.limit]
    if request.tags:
        argv += ["--tags", request.tags]
    argv.append(str(request.playbook.resolve()))
    return argv


def environment(request: PlaybookRequest, workdir: Path, recap_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Only what we set below decides Ansible's behaviour, not a stray variable of the user's.
    for key in [k for k in env if k.startswith("ANSIBLE_")]:
        del env[key]
    if request.tuned:
        config = PROJECT_CFG
    else:
        config = workdir / "ansible.cfg"
        config.write_text(BASELINE_CFG, encoding="utf-8")
    control = Path(tempfile.mkdtemp(prefix="cp-", dir=workdir))
    env.update(
        {
            "ANSIBLE_CONFIG": str(config),
            "ANSIBLE_ROLES_PATH": str(paths.roles_dir()),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_LOG_PATH": str(request.log_file.resolve()),
            "ANSIBLE_SSH_ARGS": request.ssh.ssh_args(control),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
            "ANSIBLE_HOME": str(workdir / "home"),
            "ANSIBLE_NOCOLOR": "0" if sys.stdout.isatty() else "1",
            "ANSIBLE_FORCE_COLOR": "1" if sys.stdout.isatty() else "0",
            "DEPLOYER_RECAP_FILE": str(recap_file),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if request.tuned and request.fact_cache is not None:
        env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(request.fact_cache.resolve())
    return env


def run_playbook(
    request: PlaybookRequest, echo: Echo, redact: Callable[[str], str] = lambda s: s
) -> PlaybookRun:
    """Run, stream every line (redacted) to `echo`, and return the recap."""
    request.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix="deployer-ansible-") as tmp:
        workdir = Path(tmp)
        recap_file = workdir / "recap.json"
        env = environment(request, workdir, recap_file)
        with subprocess.Popen(
            command_line(request),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
            cwd=str(workdir),
        ) as proc:
            assert proc.stdout is not None  # noqa: S101 - PIPE above
            for line in proc.stdout:
                echo(redact(line.rstrip("\n")))
            returncode = proc.wait()
        run = PlaybookRun(returncode=returncode, log_file=request.log_file)
        if recap_file.is_file():
            _read_recap(run, json.loads(recap_file.read_text(encoding="utf-8")))
    return run


def _read_recap(run: PlaybookRun, data: dict[str, object]) -> None:
    hosts = data.get("hosts")
    if isinstance(hosts, dict):
        run.hosts = {name: HostRecap(**counts) for name, counts in sorted(hosts.items())}
    failures = data.get("failures")
    if isinstance(failures, list):
        run.failures = [Failure(**f) for f in failures]
    changed = data.get("changed_tasks")
    if isinstance(changed, dict):
        run.changed_tasks = changed
    seconds = data.get("seconds")
    if isinstance(seconds, int | float):
        run.seconds = float(seconds)


def scrub_file(path: Path, secrets: Iterable[str]) -> None:
    """Replace any secret that reached a log file (defence in depth: no_log should stop them)."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    cleaned = redactor(secrets)(text)
    if cleaned != text:
        path.write_text(cleaned, encoding="utf-8")


def redactor(secrets: Iterable[str]) -> Callable[[str], str]:
    values = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)  # noqa: PLR2004
    # A PEM key is checked line by line too: it may be printed one line at a time.
    pieces = sorted(
        {line for s in values for line in s.splitlines() if len(line) >= 16 and "-----" not in line}  # noqa: PLR2004
        | set(values),
        key=len,
        reverse=True,
    )

    def redact(text: str) -> str:
        for piece in pieces:
            if piece in text:
                text = text.replace(piece, "********")
        return text

    return redact
