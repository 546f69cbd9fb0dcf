"""`deployer bundle`: keygen, build, verify, inspect, diff and unpack the offline bundle."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.options import environment_options, format_option


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@click.group()
def bundle() -> None:
    """Build the offline bundle on the connected side; verify and unpack it on the air-gapped side.

    Exit codes: 0 ok, 2 bad input, 3 the bundle does not verify.
    """


@bundle.command()
@click.option("-o", "--output", "out", required=True, metavar="DIR", help="Folder for the keys.")
@click.option("--force", is_flag=True, help="Replace an existing key (hosts must then trust the new one).")
def keygen(out: str, force: bool) -> None:
    """Make the Ed25519 signing key pair and the OpenPGP key of the bundle's apt repository."""
    from deployer.bundle.commands import keygen_command  # noqa: PLC0415 - keep --help fast

    click.echo(keygen_command(Path(out), force=force))


@bundle.command()
@environment_options
@click.option(
    "-o", "--output", "out", metavar="DIR", help="Output folder (default: bundle.path of the topology)."
)
@click.option(
    "--key", metavar="KEY", help="Private signing key (default: bundle.key next to bundle.public_key)."
)
@click.option("--since", metavar="OLD", help="Build a delta against this manifest.json or bundle.")
@click.option("--split", metavar="SIZE", help="Cut into parts of at most SIZE (e.g. 700M, 4GB).")
@click.option(
    "--mattermost-tarball", "tarball", metavar="PATH_OR_URL", help="The Mattermost release tarball."
)
@click.option("--refresh", is_flag=True, help="Resolve packages and wheels again instead of using the cache.")
@click.option(
    "--images-from",
    "images_from",
    metavar="DIR",
    help="Kubernetes: an OCI layout folder holding the images (default: the local Docker daemon).",
)
def build(
    *,
    env: str | None,
    inventory: str | None,
    out: str | None,
    key: str | None,
    since: str | None,
    split: str | None,
    tarball: str | None,
    refresh: bool,
    images_from: str | None,
) -> None:
    """Build the signed bundle for an environment.

    A kubernetes environment gets the packaged chart and every image its manifests use, as OCI
    archives (exported from the local Docker daemon, or from --images-from); a VM environment gets
    the OS packages, SeaweedFS and the Mattermost tarball. Both get the deployer's wheels.
    """
    from deployer.bundle.commands import build_command  # noqa: PLC0415

    click.echo(
        build_command(
            env_name=env,
            inventory=inventory,
            out=_path(out),
            key=_path(key),
            since=_path(since),
            split=split,
            tarball=tarball,
            refresh=refresh,
            images_from=_path(images_from),
        )
    )


@bundle.command()
@click.argument("file", required=False)
@click.option("--pubkey", metavar="KEY", help="The trusted public key (default: the topology's).")
@environment_options
def verify(file: str | None, pubkey: str | None, env: str | None, inventory: str | None) -> None:
    """Check the signature against the trusted key, then every file. Exit 0 only if all match."""
    from deployer.bundle.commands import verify_command  # noqa: PLC0415

    click.echo(verify_command(_path(file), _path(pubkey), env, inventory))


@bundle.command()
@click.argument("file")
@format_option("text", "json")
def inspect(file: str, fmt: str) -> None:
    """Show what a bundle holds (read from its manifest; verify checks it)."""
    from deployer.bundle.commands import inspect_command  # noqa: PLC0415

    click.echo(inspect_command(Path(file), fmt))


@bundle.command()
@click.argument("old")
@click.argument("new")
@format_option("text", "json")
def diff(old: str, new: str, fmt: str) -> None:
    """What changed between two bundles (or manifest.json files)."""
    from deployer.bundle.commands import diff_command  # noqa: PLC0415

    click.echo(diff_command(Path(old), Path(new), fmt))


@bundle.command()
@click.argument("file")
@click.option("--store", required=True, metavar="DIR", help="The store folder on the air-gapped side.")
@click.option("--pubkey", metavar="KEY", help="The trusted public key (default: the topology's).")
@environment_options
def unpack(file: str, store: str, pubkey: str | None, env: str | None, inventory: str | None) -> None:
    """Verify and unpack into the store; a delta is completed from the base it names."""
    from deployer.bundle.commands import unpack_command  # noqa: PLC0415

    click.echo(unpack_command(Path(file), Path(store), _path(pubkey), env, inventory))
