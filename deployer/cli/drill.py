"""`deployer drill`: lose one thing under steady load and measure detection, recovery and data loss."""

from __future__ import annotations

import os

import click

from deployer.cli.options import environment_options, format_option
from deployer.drill.scenarios import FAULTS, SCENARIOS

# A channel id of the drill's own (26 lowercase letters and digits, as Mattermost ids are).
DRILL_CHANNEL = "deployerdrillchannel000000"
TOKEN_VARIABLE = "DEPLOYER_MATTERMOST_TOKEN"  # noqa: S105 - the variable's name, not a token


@click.command()
@environment_options
@click.option("--scenario", type=click.Choice(SCENARIOS), required=True, help="What to lose.")
@format_option("text", "json", "markdown")
@click.option("--fault", type=click.Choice(FAULTS), help="How (default: kill; app-node-loss: stop).")
@click.option("--notify", "notify_url", metavar="URL", help="Post a summary to this incoming webhook.")
@click.option("--force", is_flag=True, help="Drill even if the cluster is not healthy first.")
@click.option("--confirm", is_flag=True, help="Needed to stop services on real (non-lab) hosts.")
@click.option("--channel", default=DRILL_CHANNEL, show_default=True, help="Channel id the load posts to.")
@click.option(
    "--observe", type=click.FloatRange(min=5), default=30.0, show_default=True, help="Seconds to watch."
)
@click.pass_context
def drill(  # noqa: PLR0917 - click passes each option as an argument
    ctx: click.Context,
    env: str | None,
    inventory: str | None,
    scenario: str,
    fmt: str,
    fault: str | None,
    notify_url: str | None,
    force: bool,
    confirm: bool,
    channel: str,
    observe: float,
) -> None:
    """Check health, start load through the VIP, inject the fault, measure, heal, wait for green.

    In the lab the fault hits the container (kill, stop, pause, partition); on real hosts the
    services of the lost roles are stopped over SSH, and only with --confirm. The load's API
    token, if the server needs one, comes from $DEPLOYER_MATTERMOST_TOKEN. Exit 0 when every
    target of the scenario is met and health is green again, 3 otherwise or when refused.
    """
    from deployer import notify  # noqa: PLC0415 - keep `--help` fast
    from deployer.drill import report, scenarios  # noqa: PLC0415
    from deployer.drill.detect import detector_for  # noqa: PLC0415
    from deployer.drill.injectors import Injector, LabInjector, ServiceInjector  # noqa: PLC0415
    from deployer.drill.load import Load, MattermostTarget  # noqa: PLC0415
    from deployer.drill.run import Drill, RealClock, Settings, preflight  # noqa: PLC0415
    from deployer.health.hostchecks import is_lab, shell_for  # noqa: PLC0415
    from deployer.health.readiness import full_report, live_state  # noqa: PLC0415
    from deployer.health.targets import HTTPS_PORT  # noqa: PLC0415
    from deployer.secrets import load_secrets  # noqa: PLC0415
    from deployer.topology import load_environment  # noqa: PLC0415

    def say(line: str) -> None:
        click.echo(line, err=True)

    environment = load_environment(env, inventory)
    topology = environment.topology
    before = full_report(environment)
    say(preflight(before, force))
    live = live_state(topology, before)
    plan = scenarios.plan(scenario, topology, live, fault)
    say(f"plan: {plan.fault} {', '.join(plan.victims)} ({plan.why})")
    shell = shell_for(environment.name)
    injector: Injector = (
        LabInjector(environment.name)
        if is_lab(environment.name)
        else ServiceInjector(topology, shell, plan.roles, confirmed=confirm)
    )
    vault = load_secrets(environment)
    site = topology.mattermost.site_url.split("://", 1)[-1].split("/", 1)[0]
    entry = str(topology.loadbalancer.vip or topology.hosts[0].address)
    target = MattermostTarget(
        entry, HTTPS_PORT, site, vault.ca.cert, channel, token=os.environ.get(TOKEN_VARIABLE, "")
    )
    clock = RealClock()
    run = Drill(
        environment.name,
        plan,
        Load(target, clock.now),
        injector,
        detector_for(plan, topology, live, shell),
        lambda: full_report(environment).status,
        clock=clock,
        settings=Settings(observe_min=observe),
        echo=say,
    )
    result = run.run()
    click.echo(report.render(result, fmt), nl=False)
    notify.notify(notify_url, report.summary(result), echo=say)
    ctx.exit(result.exit_code)
