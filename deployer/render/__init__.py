"""Renderers: turn a checked model into files other tools consume (Ansible, Helm)."""

from __future__ import annotations

from pathlib import Path

from deployer.checks.rules import run_checks
from deployer.errors import CheckFailedError
from deployer.render.ansible import render_ansible
from deployer.render.output import replace_tree
from deployer.topology.load import Environment
from deployer.topology.model import Platform


def render_environment(env: Environment, out_dir: Path) -> list[Path]:
    """Check, then render every artifact of the environment into out_dir (replaced whole)."""
    report = run_checks(env.topology, env.root)
    if report.errors:
        first = report.errors[0]
        raise CheckFailedError(
            f"{env.name} breaks {len(report.errors)} rule(s), first [{first.rule}]: {first.message}",
            hint=f"run `deployer validate -e {env.name}` for every problem; nothing was rendered",
        )

    def fill(tmp: Path) -> list[Path]:
        files: list[Path] = []
        if env.topology.platform is Platform.VM:
            files += render_ansible(env, tmp / "ansible")
        else:
            from deployer.kube import render_kubernetes  # noqa: PLC0415 - only kubernetes envs pay for Helm

            files += render_kubernetes(env, tmp / "kubernetes")
        return files

    return replace_tree(out_dir, fill)
