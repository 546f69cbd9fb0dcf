"""Options shared by every command that works on an environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def environment_options(func: F) -> F:
    """`-e ENV` (a folder under inventories/) or `-i PATH` (any folder or topology file)."""
    func = click.option("-i", "--inventory", "inventory", metavar="PATH", help="Topology folder or file.")(
        func
    )
    return click.option("-e", "--env", "env", metavar="ENV", help="Environment name under inventories/.")(
        func
    )


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def kubeconfig_option(func: F) -> F:
    """`--kubeconfig FILE` for kubernetes environments; the default is kubectl's."""
    return click.option(
        "--kubeconfig",
        "kubeconfig",
        metavar="FILE",
        help="Kubernetes: the cluster's kubeconfig (default: $KUBECONFIG, then ~/.kube/config).",
    )(func)
