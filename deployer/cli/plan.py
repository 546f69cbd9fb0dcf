"""`deployer plan`: a topology skeleton sized from Mattermost's reference architectures."""

from __future__ import annotations

import click
import yaml

from deployer.plan import skeleton
from deployer.sizing import reference_for
from deployer.topology.model import Platform


@click.command()
@click.option("--users", type=click.IntRange(min=1), required=True, help="Concurrent users.")
@click.option(
    "--platform",
    type=click.Choice([p.value for p in Platform]),
    default=Platform.VM.value,
    show_default=True,
)
@click.option("--name", default="site", show_default=True, help="Environment name.")
def plan(users: int, platform: str, name: str) -> None:
    """Print a topology.yml skeleton for N users that passes every rule."""
    ref = reference_for(users)
    data = skeleton(users, Platform(platform), name)
    click.echo(
        f"# Sized for {users} concurrent users from the reference architecture for {ref.users}:\n"
        f"# {ref.app_nodes} app nodes of {ref.app_vcpu} vCPU / {ref.app_mem_gib} GiB, "
        f"1 database writer + {ref.db_readers} reader(s); plus one app node of headroom where\n"
        "# losing one would drop capacity, 3 etcd, 2+ load balancers and 3 storage hosts for HA.\n"
        "# Replace names, addresses and zones with the site's own, then: deployer validate -i FILE"
    )
    if data["platform"] == Platform.KUBERNETES.value:
        click.echo(
            "# Kubernetes: add kubernetes.mattermost_image, the image the site mirrored, pinned by\n"
            "# digest (repo:tag@sha256:...); rendering refuses an unpinned image."
        )
    click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), nl=False)
