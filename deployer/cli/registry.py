"""`deployer registry push`: loads the bundle's images into the site's registry and checks them by digest."""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from deployer.bundle.archive import PART_RE
from deployer.cli.options import environment_options
from deployer.errors import DeployerError
from deployer.kube.registry import IMAGES_FILE, RegistryClient, push_images
from deployer.kube.values import kube_section
from deployer.topology.load import Environment, load_environment

PASSWORD_ENV = "DEPLOYER_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password


@click.group("registry")
def registry() -> None:
    """The site's container registry (Kubernetes environments)."""


def _find_images(root: Path) -> Path:
    """The folder holding images.json: the bundle root, images/, kube/images/, or deeper."""
    for candidate in (root, root / "images", root / "kube" / "images"):
        if (candidate / IMAGES_FILE).is_file():
            return candidate
    found = sorted(root.rglob(IMAGES_FILE))
    if not found:
        raise DeployerError(
            f"the bundle {root} carries no container images ({IMAGES_FILE} not found)",
            hint="build it for a kubernetes environment: deployer bundle build -e ENV",
        )
    return found[0].parent


def _signed(bundle: Path) -> bool:
    """The signed bundle format (`deployer bundle build`): .tar.zst, or one of its parts."""
    return bundle.name.endswith((".zst", ".zstd")) or PART_RE.match(bundle.name) is not None


@contextmanager
def _opened(bundle: Path, environment: Environment, pubkey: Path | None) -> Iterator[Path]:
    """The folder holding images.json: a signed bundle is verified (signature, every byte) first."""
    if bundle.is_dir():
        yield _find_images(bundle)
        return
    with tempfile.TemporaryDirectory(prefix="deployer-push-") as tmp:
        target = Path(tmp)
        if _signed(bundle):
            from deployer.bundle.errors import BundleVerificationError  # noqa: PLC0415
            from deployer.bundle.unpack import unpack  # noqa: PLC0415 - only for signed bundles

            result = unpack(bundle, target, _trusted_key(environment, pubkey))
            if result.manifest.environment != environment.name:
                raise BundleVerificationError(
                    f"{bundle} was built for environment '{result.manifest.environment}', "
                    f"not '{environment.name}'",
                    hint=f"build one with 'deployer bundle build -e {environment.name}'",
                )
            yield _find_images(result.release_dir)
            return
        with tarfile.open(bundle) as tar:
            tar.extractall(target, filter="data")
        yield _find_images(target)


def _trusted_key(environment: Environment, pubkey: Path | None) -> Path:
    if pubkey is not None:
        return pubkey
    configured = environment.topology.bundle.public_key
    if not configured:
        raise DeployerError(
            f"cannot verify the bundle: the topology of {environment.name} names no trusted key",
            hint="set bundle.public_key in the topology, or pass --pubkey KEY",
        )
    return environment.relative(configured)


@registry.command("push")
@environment_options
@click.option(
    "--bundle",
    "bundle",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Bundle file (.tar, .tar.zst) or folder holding images.json and the OCI archives.",
)
@click.option("--plain-http", is_flag=True, help="Talk HTTP, not HTTPS (a registry on loopback).")
@click.option("--ca-file", type=click.Path(exists=True, path_type=Path), help="CA of the registry.")
@click.option("--username", help=f"Registry user; the password is read from ${PASSWORD_ENV}.")
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path),
    help="Trusted public key for a signed bundle (default: bundle.public_key of the topology).",
)
def push(  # noqa: PLR0917 - click passes options positionally
    env: str | None,
    inventory: str | None,
    bundle: Path,
    plain_http: bool,
    ca_file: Path | None,
    username: str | None,
    pubkey: Path | None,
) -> None:
    """Push every image of the bundle to the registry named in the topology, then check each by digest.

    A signed bundle (.tar.zst) is verified against the trusted key before any image is read.

    \b
    Example:
      deployer registry push -e k8s-prod --bundle build/bundles/k8s-prod.tar.zst
    """
    environment = load_environment(env, inventory)
    address = kube_section(environment.topology).registry
    client = RegistryClient(
        address,
        plain_http=plain_http,
        username=username,
        password=os.environ.get(PASSWORD_ENV),
        ca_file=ca_file,
    )
    with _opened(bundle, environment, pubkey) as folder:
        pushed, seconds = push_images(client, folder, address)
    for image in pushed:
        click.echo(
            f"pushed {image.target}  ({image.blobs_sent} blobs sent, "
            f"{image.blobs_present} already there, {image.bytes_sent / 1e6:.1f} MB)"
        )
    click.echo(f"{len(pushed)} images in {address}, each checked by digest ({seconds:.1f} s)")
