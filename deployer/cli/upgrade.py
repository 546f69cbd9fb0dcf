"""`deployer upgrade`: the runbook of an upgrade (plan) and its execution with gates, rollback and resume."""

from __future__ import annotations

import os
from pathlib import Path

import click

from deployer.cli.options import environment_options
from deployer.errors import ExitCode
from deployer.upgrade.planner import NODE_READY_SECONDS


@click.group()
def upgrade() -> None:
    """Upgrade the Mattermost app tier by Mattermost's rules: patch releases roll, others get a window.

    Exit codes: 0 ok, 2 refused or bad input, 3 a step or gate failed (the failed part rolled back).
    """


def _to_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option("--to", "target", required=True, metavar="VERSION", help="Target release X.Y.Z.")(
        func
    )


def _node_timeout_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--node-timeout",
        type=click.IntRange(min=10),
        default=NODE_READY_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help="How long an upgraded node gets to answer its deep ping before it is rolled back.",
    )(func)


def _bundle_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--bundle",
        metavar="PATH",
        help="The bundle holding the target (default: bundle.path of the topology).",
    )(func)


@upgrade.command()
@environment_options
@_to_option
@_bundle_option
@_node_timeout_option
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown", show_default=True
)
@click.option("-o", "--output", "out", metavar="FILE", help="Write the runbook here instead of stdout.")
@click.option("--generated", metavar="TEXT", help="A date or label printed in the runbook (none by default).")
def plan(  # noqa: PLR0917 - click passes each option as an argument
    env: str | None,
    inventory: str | None,
    target: str,
    bundle: str | None,
    node_timeout: int,
    fmt: str,
    out: str | None,
    generated: str | None,
) -> None:
    """Read the live cluster and write the runbook of the upgrade to VERSION."""
    from deployer.topology import load_environment  # noqa: PLC0415 - keep --help fast
    from deployer.upgrade.render import render  # noqa: PLC0415
    from deployer.upgrade.session import prepare, ssh_shell  # noqa: PLC0415

    environment = load_environment(env, inventory)
    shell = ssh_shell(environment)
    try:
        prepared = prepare(
            environment,
            target,
            bundle=Path(bundle) if bundle else None,
            echo=_note,
            shell=shell,
            node_timeout=node_timeout,
        )
    finally:
        shell.close()
    text = render(prepared.plan, fmt, generated)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        _note(f"runbook written to {out} ({prepared.plan.strategy}, {len(prepared.plan.steps)} steps)")
    else:
        click.echo(text, nl=False)


@upgrade.command()
@environment_options
@_to_option
@_bundle_option
@_node_timeout_option
@click.option("--resume", is_flag=True, help="Continue the interrupted run after its last finished step.")
@click.option("--notify", metavar="URL", help="Post the summary to this Slack-compatible webhook.")
@click.pass_context
def run(  # noqa: PLR0917 - click passes each option as an argument
    ctx: click.Context,
    env: str | None,
    inventory: str | None,
    target: str,
    bundle: str | None,
    node_timeout: int,
    resume: bool,
    notify: str | None,
) -> None:
    """Execute the plan's steps over SSH, gate after each, roll back a failed node, save progress.

    Cluster status gates send MM_ADMIN_TOKEN (a system admin's token) when it is set.
    """
    from deployer import notify as notifier  # noqa: PLC0415
    from deployer.execute.deploy import prepare_bundle  # noqa: PLC0415 - keep --help fast
    from deployer.topology import load_environment  # noqa: PLC0415
    from deployer.upgrade import state  # noqa: PLC0415
    from deployer.upgrade.gates import GateRunner  # noqa: PLC0415
    from deployer.upgrade.runner import Runner  # noqa: PLC0415
    from deployer.upgrade.session import prepare, ssh_shell  # noqa: PLC0415
    from deployer.upgrade.state import RunStatus  # noqa: PLC0415

    environment = load_environment(env, inventory)
    bundle_path = Path(bundle) if bundle else None
    shell = ssh_shell(environment)
    try:
        if resume:
            run_state = state.start_or_resume(environment.name, target, resume=True, fresh=None)
            _, bundle_dir = prepare_bundle(environment, bundle_path, _note)
            _note(f"resuming: {len(run_state.done())} of {len(run_state.plan.steps)} steps already done")
        else:
            state.refuse_unfinished(environment.name)
            prepared = prepare(
                environment, target, bundle=bundle_path, echo=_note, shell=shell, node_timeout=node_timeout
            )
            run_state = state.start_or_resume(environment.name, target, resume=False, fresh=prepared.plan)
            bundle_dir = prepared.bundle_dir
        gates = GateRunner(shell, token=os.environ.get("MM_ADMIN_TOKEN"))
        report = Runner(run_state, shell, gates, bundle_dir, click.echo).run()
    finally:
        shell.close()
    summary = report.summary()
    click.echo(summary)
    notifier.notify(notify, summary, echo=_note)
    if report.status is not RunStatus.DONE:
        _note(f"progress: {state.state_file(environment.name)}")
        ctx.exit(ExitCode.CHECK_FAILED)


def _note(text: str) -> None:
    click.echo(text, err=True)
