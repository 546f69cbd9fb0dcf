"""`deployer deploy`: verify the bundle, serve it, make the secrets, render, run the site playbook."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deployer import paths
from deployer.bundle.errors import BundleVerificationError
from deployer.bundle.manifest import Manifest, manifest_digest
from deployer.bundle.unpack import find_release, unpack
from deployer.bundle.verify import environment_trust, verify_bundle, verify_tree
from deployer.execute.errors import DeployFailedError
from deployer.execute.runner import (
    PLAYBOOKS_DIR,
    PlaybookRequest,
    PlaybookRun,
    SshAccess,
    redactor,
    run_playbook,
    scrub_file,
)
from deployer.execute.serve import BundleServer
from deployer.render import render_environment
from deployer.report.table import table
from deployer.secrets import ensure_secrets, vault_file, vault_password_file
from deployer.topology import Environment, Role

Echo = Callable[[str], None]
APT_KEYRING = "apt/deployer-bundle-archive-keyring.gpg"


@dataclass(frozen=True)
class DeployOptions:
    bundle: Path | None = None  # default: bundle.path of the topology
    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: str | None = None
    render_dir: Path | None = None  # default: build/<env>
    ssh: SshAccess | None = None  # default: the lab's files when the lab runs the environment
    tuned: bool = True
    playbook: str = "site.yml"


@dataclass
class DeployResult:
    environment: str
    run: PlaybookRun
    bundle_seconds: float
    seconds: float
    steps: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [
            [host, str(r.ok), str(r.changed), str(r.failed), str(r.unreachable), str(r.skipped)]
            for host, r in self.run.hosts.items()
        ]
        return table(["host", "ok", "changed", "failed", "unreachable", "skipped"], rows, indent="  ")


def store_dir() -> Path:
    """Unpacked bundles on this machine (outside the repository, reused between deploys)."""
    return paths.state_dir() / "store"


def log_path(env_name: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return paths.state_dir() / "logs" / env_name / f"deploy-{stamp}.log"


def lab_ssh(env_name: str) -> SshAccess | None:
    """The lab's key and known_hosts, when `deployer lab up` made this environment."""
    from deployer.lab.ssh import ssh_files  # noqa: PLC0415 - the lab is optional at a real site
    from deployer.lab.state import env_dir  # noqa: PLC0415

    if not (env_dir(env_name) / "plan.json").is_file():
        return None
    files = ssh_files(env_name)
    return SshAccess(private_key=files.private_key, known_hosts=files.known_hosts)


def prepare_bundle(env: Environment, bundle: Path | None, echo: Echo) -> tuple[Manifest, Path]:
    """Verify (signature, then every file) BEFORE anything else; then the unpacked release."""
    default_path, public_key = environment_trust(env)
    path = bundle or default_path
    echo(f"verify {path} against {public_key}")
    manifest = verify_bundle(path, public_key)
    if manifest.environment != env.name:
        raise BundleVerificationError(
            f"{path} was built for environment '{manifest.environment}', not '{env.name}'",
            hint=f"build one with 'deployer bundle build -e {env.name}'",
        )
    release = find_release(store_dir(), manifest_digest(manifest.to_bytes()))
    if release is not None:
        verify_tree(release, public_key)
        echo(f"bundle verified; unpacked copy {release} verified")
        return manifest, release.resolve()
    result = unpack(path, store_dir(), public_key)
    echo(f"bundle verified and unpacked into {result.release_dir}")
    return manifest, result.release_dir.resolve()


def export_ca(env_name: str, cert_pem: str, out_dir: Path) -> Path:
    """The environment CA's certificate (public): browsers trust the HTTPS edge through it when the
    site brings no certificate of its own."""
    path = out_dir / f"{env_name}-ca.crt"
    path.write_text(cert_pem if cert_pem.endswith("\n") else cert_pem + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def first_host_address(env: Environment) -> str:
    hosts = [h for h in env.topology.hosts if not h.has(Role.BASTION)] or env.topology.hosts
    return str(hosts[0].address)


def deploy(env: Environment, options: DeployOptions, echo: Echo) -> DeployResult:
    started = time.monotonic()
    manifest, release = prepare_bundle(env, options.bundle, echo)
    bundle_seconds = time.monotonic() - started
    secrets = ensure_secrets(env)
    redact = redactor(secrets.values())
    out_dir = (options.render_dir or Path("build") / env.name).resolve()
    render_environment(env, out_dir)
    ca_file = export_ca(env.name, secrets.ca.cert, out_dir)
    echo(f"environment CA certificate (for the site's browsers): {ca_file}")
    ansible_dir = out_dir / "ansible"
    ssh = options.ssh or lab_ssh(env.name) or SshAccess()
    log_file = log_path(env.name)
    with BundleServer(release, towards=first_host_address(env)) as server:
        echo(f"serving the bundle to the hosts at {server.url}")
        run_vars = ansible_dir / "deploy-vars.json"
        run_vars.write_text(
            json.dumps(
                {
                    "deployer_bundle_url": server.url,
                    "deployer_bundle_keyring": str(release / APT_KEYRING),
                    "deployer_bundle_digest": release.name,
                    "deployer_bundle_checksums": {
                        f.path: f.sha256 for f in manifest.files if f.path.startswith(("bin/", "mattermost/"))
                    },
                },
                indent=1,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
        request = PlaybookRequest(
            playbook=PLAYBOOKS_DIR / options.playbook,
            inventory=ansible_dir / "inventory.yml",
            extra_vars_files=(run_vars, vault_file(env)),
            vault_password_file=vault_password_file(env.name),
            ssh=ssh,
            log_file=log_file,
            fact_cache=paths.state_dir() / "facts" / env.name,
            check=options.check,
            diff=options.diff,
            limit=options.limit,
            tags=options.tags,
            tuned=options.tuned,
        )
        echo(f"log: {log_file}")
        run = run_playbook(request, echo, redact)
    scrub_file(log_file, secrets.values())
    result = DeployResult(env.name, run, bundle_seconds, time.monotonic() - started)
    if not run.ok:
        raise DeployFailedError(_failure_message(env.name, run), hint=f"the full log is {log_file}")
    return result


def _failure_message(env_name: str, run: PlaybookRun) -> str:
    if not run.failures:
        return f"deploy of {env_name} failed: ansible-playbook exited {run.returncode} (see the log)"
    first = run.failures[0]
    text = f"deploy of {env_name} failed on {first.host}, task '{first.task}': {first.message}"
    others = sorted({f.host for f in run.failures[1:]} - {first.host})
    if others:
        text += f" (also failed: {', '.join(others)})"
    return text
