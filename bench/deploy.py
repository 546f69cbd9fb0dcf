"""Benchmark: first deploy and no-op redeploy of the lab's staging, project Ansible settings vs Ansible's.

For each setting (Ansible's defaults first, the baseline; then the project's ansible.cfg) the
lab's staging hosts are created fresh, the whole cluster is deployed from the bundle, then
deployed again; the table shows both durations and the changes of the second run (target: no-op
redeploy under 60 s with 0 changes). Needs the lab (`make lab-prereqs`); builds the staging bundle
with the stand-in if the topology's bundle is missing. Takes 20-40 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployer.bundle import keys  # noqa: E402
from deployer.cli.main import main as cli  # noqa: E402
from deployer.execute import DeployOptions, deploy  # noqa: E402
from deployer.lab import lifecycle  # noqa: E402
from deployer.topology import load_environment  # noqa: E402
from tests.standin.build_tarball import build_tarball  # noqa: E402

TARGET_NOOP_SECONDS = 60.0


def _inventory(work: Path, bundle: Path, public_key: Path) -> Path:
    data = yaml.safe_load((ROOT / "inventories" / "staging" / "topology.yml").read_text(encoding="utf-8"))
    data["bundle"] = {"path": str(bundle), "public_key": str(public_key)}
    folder = work / "staging"
    folder.mkdir(parents=True)
    (folder / "topology.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def _quiet(line: str) -> None:
    if line.startswith("[") and "play " in line:
        print(f"    {line}", flush=True)


def measure(inventory: Path, *, tuned: bool) -> tuple[float, float, int, int]:
    """(first deploy s, no-op s, changes of the first, changes of the no-op) on fresh lab hosts."""
    env = load_environment(None, str(inventory))
    lifecycle.down(env.name)
    lifecycle.up(env)
    try:
        options = DeployOptions(tuned=tuned, render_dir=inventory.parent / "build")
        first = deploy(env, options, _quiet)
        again = deploy(env, options, _quiet)
        return first.seconds, again.seconds, first.run.changed, again.run.changed
    finally:
        lifecycle.down(env.name)


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-project", action="store_true", help="Skip the baseline (Ansible's defaults).")
    args = parser.parse_args()
    key_dir = ROOT / "build" / "keys"
    if not (key_dir / keys.PRIVATE_KEY_NAME).is_file():
        keys.generate(key_dir)
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        work = Path(tmp)
        os.environ["DEPLOYER_STATE_DIR"] = str(work / "state")
        bundle = ROOT / "build" / "bundles" / "staging-bench.tar.zst"
        inventory = _inventory(work, bundle, key_dir / keys.PUBLIC_KEY_NAME)
        version = load_environment(None, str(inventory)).topology.mattermost.version
        tarball = build_tarball(version, work / "release")
        if cli(["bundle", "build", "-i", str(inventory), "--mattermost-tarball", str(tarball)]) != 0:
            return 1
        rows = []
        settings = [("project ansible.cfg", True)]
        if not args.only_project:
            settings.insert(0, ("Ansible defaults", False))
        for label, tuned in settings:
            print(f"{label}: fresh staging lab, first deploy, then a no-op redeploy", flush=True)
            rows.append((label, *measure(inventory, tuned=tuned)))
    print(f"\n{'settings':<20} {'first s':>8} {'changes':>8} {'no-op s':>8} {'changes':>8}")
    for label, first, noop, first_changed, noop_changed in rows:
        print(f"{label:<20} {first:>8.0f} {first_changed:>8} {noop:>8.0f} {noop_changed:>8}")
    if len(rows) == 2:  # noqa: PLR2004 - baseline and project
        print(f"no-op speed-up over Ansible's defaults: {rows[0][2] / rows[1][2]:.2f}x")
    project = rows[-1]
    met = project[2] < TARGET_NOOP_SECONDS and project[4] == 0
    print(f"target no-op < {TARGET_NOOP_SECONDS:.0f} s with 0 changes: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
