"""One `staging` cluster for every end-to-end test in this package, deployed the air-gapped way.

On the connected side (this machine): build and sign the bundle for staging with the stand-in
Mattermost tarball, `lab up` the eleven hosts (bastion included) on the lab's internal network.
Then, as an operator carrying media into the site: copy the bundle, the bastion kit, the public
keys, the inventory and the SSH key with its known_hosts into the bastion; on the bastion check
the kit with `gpgv`, install the deployer with `pip install --no-index`, `deployer bundle verify`
and `deployer deploy`. The inventory folder (with the vault the deploy generated) and the vault's
password file are carried back, so this machine can drive faults, drills and upgrades too.

The tests in this package share that cluster in file order (bastion checks, data-tier failovers,
drills, upgrades last); each heals what it breaks. The lab is removed when the package is done,
also when a test fails. DEPLOYER_KEEP_LAB=1 keeps it for a look afterwards and prints how to
run the package again on it (DEPLOYER_REUSE_CLUSTER=<its folder>: no new lab, no new deploy).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployer.bundle import keys
from deployer.lab import lifecycle
from deployer.lab.docker import require_docker
from deployer.lab.plan import container_name
from deployer.lab.ssh import ssh_files
from deployer.secrets import Secrets, load_secrets, vault_file, vault_password_file
from deployer.topology import Environment, load_environment
from tests.standin.build_tarball import build_tarball

ROOT = Path(__file__).resolve().parents[3]
ENV = "staging"
START_VERSION = "10.5.2"
MEDIA = "/home/deployer/media"  # what the operator carried in
INVENTORY_ON_BASTION = f"{MEDIA}/inventories/{ENV}"
DEPLOYER_ON_BASTION = "/home/deployer/.local/share/deployer/venv/bin/deployer"


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class Cluster:
    """The deployed staging cluster and the two places it is driven from."""

    work: Path
    inventory: Path  # this machine's copy of the inventory (the vault carried back from the bastion)
    state: Path  # DEPLOYER_STATE_DIR of this machine's runs (the lab's files live there)
    bastion: str  # container of the bastion
    first_deploy: Run

    @property
    def env(self) -> Environment:
        return load_environment(None, str(self.inventory))

    @property
    def secrets(self) -> Secrets:
        return load_secrets(self.env)

    def on_bastion(self, command: str, *, timeout: float = 3600) -> Run:
        """`command` as the deployer user in the bastion's media folder (through the lab's docker)."""
        started = time.monotonic()
        done = subprocess.run(
            ["docker", "exec", "-u", "deployer", "-w", MEDIA, self.bastion, "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def deployer_on_bastion(self, *args: str, timeout: float = 3600) -> Run:
        return self.on_bastion(shlex.join([DEPLOYER_ON_BASTION, *args]), timeout=timeout)

    def read_from_bastion(self, path: str) -> bytes:
        return subprocess.run(
            ["docker", "exec", self.bastion, "cat", path], capture_output=True, check=True
        ).stdout


def _carry_in(bastion: str, files: dict[Path, str]) -> None:
    for source, target in files.items():
        subprocess.run(["docker", "exec", bastion, "mkdir", "-p", str(Path(target).parent)], check=True)
        subprocess.run(["docker", "cp", str(source), f"{bastion}:{target}"], check=True)
    subprocess.run(
        ["docker", "exec", bastion, "chown", "-R", "deployer:deployer", "/home/deployer"], check=True
    )
    subprocess.run(["docker", "exec", bastion, "chmod", "-R", "go-rwx", "/home/deployer/.ssh"], check=True)


def _inventory_for(folder: Path, bundle: str, public_key: str) -> Path:
    data = yaml.safe_load((ROOT / "inventories" / ENV / "topology.yml").read_text(encoding="utf-8"))
    data["bundle"] = {"path": bundle, "public_key": public_key}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def build_bundle(inventory: Path, version: str, tarballs: Path, *, broken: bool = False) -> None:
    """Connected side: the stand-in tarball of `version`, then the signed bundle of `inventory`."""
    tarball = build_tarball(version, tarballs / ("broken" if broken else "ok"), broken=broken)
    deployer = str(Path(sys.executable).parent / "deployer")
    subprocess.run(
        [deployer, "bundle", "build", "-i", str(inventory), "--mattermost-tarball", str(tarball)], check=True
    )


def _deploy_from_bastion(work: Path, state: Path) -> Cluster:
    key_dir = ROOT / "build" / "keys"
    if not (key_dir / keys.PRIVATE_KEY_NAME).is_file():
        keys.generate(key_dir)
    bundles = work / "bundles"
    inventory = _inventory_for(
        work / "inventories" / ENV, str(bundles / f"{ENV}.tar.zst"), str(key_dir / keys.PUBLIC_KEY_NAME)
    )
    build_bundle(inventory, START_VERSION, work / "tarballs")
    env = load_environment(None, str(inventory))
    lifecycle.up(env, progress=print)
    bastion = container_name(ENV, "stg-bastion")
    # The operator's copy of the inventory points at the media next to it.
    carried = _inventory_for(work / "carried" / ENV, f"../../{ENV}.tar.zst", "../../bundle.pub")
    lab = ssh_files(ENV)
    bundle = bundles / f"{ENV}.tar.zst"
    kit = bundles / f"{ENV}.tar.zst.bootstrap.tar"
    _carry_in(
        bastion,
        {
            bundle: f"{MEDIA}/{bundle.name}",
            kit: f"{MEDIA}/{kit.name}",
            kit.with_name(kit.name + ".sig"): f"{MEDIA}/{kit.name}.sig",
            key_dir / keys.PUBLIC_KEY_NAME: f"{MEDIA}/bundle.pub",
            key_dir / "apt-repo.pub.gpg": f"{MEDIA}/apt-repo.pub.gpg",
            carried / "topology.yml": f"{INVENTORY_ON_BASTION}/topology.yml",
            lab.private_key: "/home/deployer/.ssh/id_ed25519",
            lab.known_hosts: "/home/deployer/.ssh/known_hosts",
        },
    )
    cluster = Cluster(work, inventory, state, bastion, Run(0, "", "", 0.0))
    steps = [
        f"gpgv --keyring ./apt-repo.pub.gpg {kit.name}.sig {kit.name}",
        f"tar xf {kit.name}",
        "sh bootstrap/install.sh",
        f"{DEPLOYER_ON_BASTION} bundle verify -i inventories/{ENV}",
    ]
    for step in steps:
        done = cluster.on_bastion(step, timeout=900)
        print(f"bastion$ {step}\n{done.out}{done.err}")
        assert done.code == 0, f"on the bastion, `{step}` failed:\n{done.out}\n{done.err}"
    cluster.first_deploy = cluster.deployer_on_bastion("deploy", "-i", f"inventories/{ENV}")
    print(f"bastion$ deployer deploy -i inventories/{ENV}  ({cluster.first_deploy.seconds:.0f} s)")
    print(cluster.first_deploy.out[-3000:], cluster.first_deploy.err[-3000:])
    assert cluster.first_deploy.code == 0, cluster.first_deploy.err
    # Carry the vault and its password back (the operator's inventory folder and password file).
    vault_file(env).write_bytes(cluster.read_from_bastion(f"{INVENTORY_ON_BASTION}/secrets.vault.yml"))
    password = vault_password_file(ENV)
    password.parent.mkdir(parents=True, exist_ok=True)
    password.write_bytes(cluster.read_from_bastion(f"/home/deployer/.local/state/deployer/vault/{ENV}.pass"))
    password.chmod(0o600)
    return cluster


SAVED = "cluster.json"


def _reused(work: Path) -> Cluster:
    saved = json.loads((work / SAVED).read_text(encoding="utf-8"))
    return Cluster(
        work, Path(saved["inventory"]), Path(saved["state"]), saved["bastion"], Run(**saved["first"])
    )


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        require_docker()
    except Exception as exc:  # noqa: BLE001 - any reason the engine is missing
        pytest.fail(f"no Docker engine for the lab: {exc} (run `make lab-prereqs`)")
    reuse = os.environ.get("DEPLOYER_REUSE_CLUSTER")
    if reuse:
        made = _reused(Path(reuse))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DEPLOYER_STATE_DIR", str(made.state))
            yield made
        return
    if os.environ.get("DEPLOYER_KEEP_LAB"):  # outside pytest's folders, which it prunes
        work = ROOT / "build" / "e2e-cluster"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    else:
        work = tmp_path_factory.mktemp("cluster")
    state = work / "state"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPLOYER_STATE_DIR", str(state))
        try:
            made = _deploy_from_bastion(work, state)
            first = made.first_deploy
            saved: dict[str, object] = {"inventory": str(made.inventory), "state": str(state)}
            saved["bastion"] = made.bastion
            saved["first"] = {
                "code": first.code,
                "out": first.out,
                "err": first.err,
                "seconds": first.seconds,
            }
            (work / SAVED).write_text(json.dumps(saved), encoding="utf-8")
            yield made
        finally:
            if os.environ.get("DEPLOYER_KEEP_LAB"):
                print(f"\nlab kept: DEPLOYER_REUSE_CLUSTER={work} runs this package on it again")
            else:
                lifecycle.down(ENV, progress=print)
                shutil.rmtree(state / "store", ignore_errors=True)


@pytest.fixture(autouse=True)
def _cluster_state(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here sees the cluster's state folder (lab files, vault password)."""
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(cluster.state))
