"""Entry point: builds the command tree and turns every user mistake into a message and an exit code."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback

import click

from deployer.errors import DeployerError, ExitCode

# (module, attribute) of each subcommand; imported lazily so one command's heavy
# dependencies never slow down or break another.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("deployer.cli.validate", "validate"),
    "plan": ("deployer.cli.plan", "plan"),
    "render": ("deployer.cli.render", "render"),
    "demo": ("deployer.cli.demo", "demo"),
    "lab": ("deployer.cli.lab", "lab"),
    "bundle": ("deployer.cli.bundle", "bundle"),
    "deploy": ("deployer.cli.deploy", "deploy"),
    "registry": ("deployer.cli.registry", "registry"),
    "upgrade": ("deployer.cli.upgrade", "upgrade"),
    "health": ("deployer.cli.health", "health"),
    "drill": ("deployer.cli.drill", "drill"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        del ctx
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        del ctx
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module, attr = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return command


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mattermost-deployer", prog_name="deployer")
def cli() -> None:
    """Deploy and keep healthy a high-availability Mattermost cluster in air-gapped networks.

    Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 3 check failed, 4 warnings only.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never lets a traceback reach the user for a mistake of theirs."""
    try:
        # Without standalone mode click returns the code given to ctx.exit / Exit.
        code = cli.main(args=argv, prog_name="deployer", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.BAD_INPUT
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.BAD_INPUT
    except DeployerError as exc:
        click.echo(exc.render(), err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return ExitCode.INTERNAL
    except Exception:  # noqa: BLE001 - the last line of defence: report, never dump on the user
        if os.environ.get("DEPLOYER_DEBUG"):
            traceback.print_exc()
        else:
            exc_type, exc_value, _ = sys.exc_info()
            name = exc_type.__name__ if exc_type else "error"
            click.echo(
                f"internal error: {name}: {exc_value}\n"
                "  this is a bug in the deployer; run again with DEPLOYER_DEBUG=1 for details",
                err=True,
            )
        return ExitCode.INTERNAL
    return int(code) if isinstance(code, int) else ExitCode.OK


def run() -> None:
    sys.exit(main())
