"""Molecule scenarios on the project's lab: hosts, served bundle and inventory, by the deployer's code.

Every scenario under roles/*/molecule/ calls this module from create.yml and destroy.yml, which
sit next to it and are named by the scenarios' shared config.yml
(`python -m tests.molecule.lab create|destroy SCENARIO_DIR INVENTORY_DIR`, run from the
checkout):

- create brings the scenario's topology.yml up with `deployer lab`, makes the environment's
  secrets (an encrypted vault, as a deploy does), renders it like `deployer render`, verifies
  the shared test bundle and serves it to the hosts (port 8780 on the lab bridge) from a
  detached process, then writes the rendered inventory, its group variables and the run's
  `deployer_bundle_*` variables as ONE file into molecule's inventory folder, with SSH pinned
  to the lab's known_hosts;
- destroy stops that server and removes the hosts, whatever state create left. With
  DEPLOYER_MOLECULE_KEEP_LAB=1 it leaves the hosts (and the environment's vault) for the next
  scenario of the same topology: tests/integration/test_molecule.py runs scenarios that share
  a topology one after the other on one lab and removes it itself (`teardown`), also on failure;
- `secrets ENV` prints the vault's content as JSON on stdout, for the playbooks to hold in
  memory (never written in plain text).

The environment's files (topology copy, vault, rendered inventory, server state) live under
the deployer's state folder, `molecule/ENV`, never in the checkout. The bundle is built once for
every scenario (tests/molecule/bundle/topology.yml names every role) from the downloads cached
in build/cache/bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployer import paths
from deployer.bundle.build import BuildOptions, build_environment
from deployer.bundle.content import load_defaults, plan_for
from deployer.bundle.keys import generate
from deployer.bundle.manifest import Kind, Manifest
from deployer.bundle.progress import Reporter
from deployer.bundle.verify import file_digest
from deployer.errors import DeployerError
from deployer.execute.deploy import APT_KEYRING, first_host_address, lab_ssh, prepare_bundle
from deployer.execute.serve import BundleServer
from deployer.lab import lifecycle
from deployer.render import render_environment
from deployer.secrets import Secrets, ensure_secrets, load_secrets, vault_file, vault_password_file
from deployer.topology import Environment, load_environment
from tests.standin.build_tarball import build_tarball

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_ENV = Path(__file__).resolve().parent / "bundle"
STANDIN_DIR = ROOT / "build" / "cache" / "standin"
CACHE_DIR = ROOT / "build" / "cache" / "bundle"
# The file create writes into molecule's inventory folder (molecule leaves other names alone).
INVENTORY_NAME = "deployer.yml"
SERVER_FILE = "bundle-server.json"
SERVER_START_SECONDS = 30
KEEP_ENV = "DEPLOYER_MOLECULE_KEEP_LAB"


def log(message: str) -> None:
    print(f"[molecule-lab] {message}", file=sys.stderr, flush=True)


def work_dir(env_name: str) -> Path:
    """Files of one scenario environment, outside the checkout (the vault must never land in it)."""
    return paths.state_dir() / "molecule" / env_name


def keep_lab() -> bool:
    return os.environ.get(KEEP_ENV, "") == "1"


@dataclass(frozen=True)
class Scenario:
    """One scenario: its topology (in the repo) and molecule's inventory folder."""

    source: Path  # the scenario folder holding topology.yml
    inventory_dir: Path

    @property
    def name(self) -> str:
        return load_environment(None, str(self.source)).name

    @property
    def work(self) -> Path:
        return work_dir(self.name)

    def environment(self) -> Environment:
        """The topology copied next to its vault; a lab kept for sharing must run the same topology."""
        copy = self.work / "env" / "topology.yml"
        wanted = (self.source / "topology.yml").read_bytes()
        if copy.is_file() and copy.read_bytes() != wanted and lab_ssh(self.name) is not None:
            raise DeployerError(
                f"lab {self.name} is up with another topology.yml than {self.source}'s",
                hint="scenarios sharing a lab need identical topologies; take it down with "
                f"`deployer lab down -e {self.name}`",
            )
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(wanted)
        return load_environment(None, str(copy.parent))


# --- the bundle -------------------------------------------------------------------------------


def _bundle_is_current(manifest: Manifest, env: Environment) -> bool:
    """The built bundle still carries what the pinned defaults and the stand-in ask for."""
    plan = plan_for(env, load_defaults())
    debs = {f.name for f in manifest.files if f.kind is Kind.DEB}
    files = {f.path: f.sha256 for f in manifest.files}
    standin, _ = file_digest(build_tarball(env.topology.mattermost.version, STANDIN_DIR))
    return (
        set(plan.os_packages) <= debs
        and files.get(f"mattermost/{plan.mattermost_file}") == standin
        and (plan.seaweedfs is None or f"bin/{plan.seaweedfs.binary}" in files)
    )


def _build_bundle(env: Environment) -> None:
    public = env.relative(env.topology.bundle.public_key or "")
    if not public.is_file():
        generate(public.parent)
    # The Mattermost stand-in (a test double) is byte-reproducible: rebuilt, it is the same file.
    tarball = build_tarball(env.topology.mattermost.version, STANDIN_DIR)
    log(f"building the test bundle {env.relative(env.topology.bundle.path or '')}")
    build_environment(
        env, BuildOptions(mattermost_tarball=str(tarball), cache=CACHE_DIR), reporter=Reporter(quiet=True)
    )


def bundle_release() -> tuple[Manifest, Path]:
    """The shared test bundle, built when missing or stale, verified and unpacked like a deploy does."""
    env = load_environment(None, str(BUNDLE_ENV))
    bundle = env.relative(env.topology.bundle.path or "")
    bundle.parent.mkdir(parents=True, exist_ok=True)
    # Scenarios on several labs start side by side: one of them builds or unpacks, the others wait.
    with (bundle.parent / ".molecule.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not bundle.is_file():
            _build_bundle(env)
        manifest, release = prepare_bundle(env, None, log)
        if not _bundle_is_current(manifest, env):
            _build_bundle(env)
            manifest, release = prepare_bundle(env, None, log)
    return manifest, release


# --- the bundle server ------------------------------------------------------------------------


def serve(release: Path, towards: str, state: Path) -> None:
    """Run the deploy's BundleServer until SIGTERM; its URL goes to `state` once it listens."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with BundleServer(release, towards=towards) as server:
        tmp = state.with_name(state.name + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "url": server.url}) + "\n", encoding="utf-8")
        tmp.replace(state)
        stop.wait()


def _server_state(work: Path) -> dict[str, Any] | None:
    path = work / SERVER_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _is_our_server(pid: int) -> bool:
    """The pid still belongs to a bundle server of this module (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"tests.molecule.lab" in cmdline and b"serve" in cmdline


def start_server(work: Path, release: Path, towards: str) -> str:
    current = _server_state(work)
    if current is not None and _is_our_server(int(current["pid"])):
        return str(current["url"])
    state = work / SERVER_FILE
    state.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.molecule.lab", "serve", str(release), towards, str(state)]
    with (work / "bundle-server.log").open("ab") as out:
        # A session of its own and no inherited pipes: Ansible's command task returns at once.
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if state.is_file():
            return str(json.loads(state.read_text(encoding="utf-8"))["url"])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise DeployerError("the bundle server did not start", hint=f"see {work / 'bundle-server.log'}")


def stop_server(work: Path) -> None:
    current = _server_state(work)
    if current is None:
        return
    pid = int(current["pid"])
    if _is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _is_our_server(pid):
                break
            time.sleep(0.1)
    (work / SERVER_FILE).unlink(missing_ok=True)


# --- the inventory ----------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data


def write_inventory(scenario: Scenario, env: Environment, run_vars: dict[str, Any]) -> Path:
    """The rendered inventory and group_vars as one file, plus the run's variables and SSH trust."""
    rendered = scenario.work / "build" / "ansible"
    inventory = _load(rendered / "inventory.yml")
    top = inventory["all"]
    for group, body in top.get("children", {}).items():
        group_vars = rendered / "group_vars" / f"{group}.yml"
        if group_vars.is_file():
            body["vars"] = _load(group_vars)
    ssh = lab_ssh(env.name)
    if ssh is None or ssh.private_key is None or ssh.known_hosts is None:
        raise DeployerError(f"the lab of {env.name} is not up", hint="run the scenario's create again")
    top["vars"] = {
        **_load(rendered / "group_vars" / "all.yml"),
        **top.get("vars", {}),
        **run_vars,
        "ansible_ssh_private_key_file": str(ssh.private_key),
        # Host keys are verified against the lab's known_hosts, for Ansible and for testinfra.
        "ansible_ssh_common_args": " ".join(
            [
                "-o StrictHostKeyChecking=yes",
                f"-o UserKnownHostsFile={ssh.known_hosts}",
                "-o GlobalKnownHostsFile=/dev/null",
                "-o IdentitiesOnly=yes",
                "-o PasswordAuthentication=no",
            ]
        ),
    }
    scenario.inventory_dir.mkdir(parents=True, exist_ok=True)
    target = scenario.inventory_dir / INVENTORY_NAME
    header = f"# Written by tests/molecule/lab.py for {env.name}; removed by destroy.\n"
    target.write_text(header + yaml.safe_dump(inventory, sort_keys=True), encoding="utf-8")
    return target


# --- the verbs ---------------------------------------------------------------------------------


def create(scenario: Scenario) -> None:
    started = time.monotonic()
    env = scenario.environment()
    work = scenario.work
    up = lifecycle.up(env, progress=log)
    log(f"lab {env.name}: {len(up.plan.hosts)} hosts up in {up.seconds:.1f} s")
    ensure_secrets(env)
    render_environment(env, work / "build")
    manifest, release = bundle_release()
    url = start_server(work, release, first_host_address(env))
    log(f"serving {release} at {url}")
    run_vars = {
        "deployer_bundle_url": url,
        "deployer_bundle_keyring": str(release / APT_KEYRING),
        "deployer_bundle_digest": release.name,
        "deployer_bundle_checksums": {
            f.path: f.sha256 for f in manifest.files if f.path.startswith(("bin/", "mattermost/"))
        },
        # How the playbooks read the vault into memory: `lookup('pipe', ...) | from_json`.
        "deployer_molecule_secrets_command": " ".join(
            [
                f"cd {shlex.quote(str(ROOT))} &&",
                shlex.quote(sys.executable),
                "-m tests.molecule.lab secrets",
                env.name,
            ]
        ),
    }
    target = write_inventory(scenario, env, run_vars)
    log(f"inventory {target} ({time.monotonic() - started:.1f} s)")


def teardown(env_name: str) -> None:
    """Everything of one scenario environment: bundle server, hosts, vault and its password."""
    work = work_dir(env_name)
    stop_server(work)
    lifecycle.down(env_name, progress=log)
    vault_password_file(env_name).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def destroy(scenario: Scenario) -> None:
    (scenario.inventory_dir / INVENTORY_NAME).unlink(missing_ok=True)
    if keep_lab():
        stop_server(scenario.work)
        log(f"lab {scenario.name} kept for the next scenario ({KEEP_ENV}=1)")
        return
    teardown(scenario.name)


def read_secrets(env_name: str) -> Secrets:
    """The scenario environment's vault (the testinfra tests use it as the app would)."""
    env = load_environment(None, str(work_dir(env_name) / "env"))
    if not vault_file(env).is_file():
        raise DeployerError(f"no vault for {env.name}", hint="run the scenario's create first")
    return load_secrets(env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.molecule.lab", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb in ("create", "destroy"):
        sub = verbs.add_parser(verb)
        sub.add_argument("scenario_dir", type=Path)
        sub.add_argument("inventory_dir", type=Path)
    verbs.add_parser("secrets").add_argument("env")
    verbs.add_parser("teardown").add_argument("env")
    server = verbs.add_parser("serve")
    server.add_argument("release", type=Path)
    server.add_argument("towards")
    server.add_argument("state", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "serve":
            serve(args.release, args.towards, args.state)
        elif args.verb == "secrets":
            print(read_secrets(args.env).model_dump_json())
        elif args.verb == "teardown":
            teardown(args.env)
        else:
            scenario = Scenario(args.scenario_dir.resolve(), args.inventory_dir.resolve())
            create(scenario) if args.verb == "create" else destroy(scenario)
    except DeployerError as exc:
        print(exc.render(), file=sys.stderr)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
