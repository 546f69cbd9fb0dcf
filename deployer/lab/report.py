"""Text and JSON renderings of lab results, kept apart from the command line."""

from __future__ import annotations

from deployer.lab.lifecycle import LabStatus, UpResult
from deployer.lab.ssh import ssh_files


def status_text(status: LabStatus) -> str:
    internal = {True: "internal", False: "NOT internal", None: "missing"}[status.internal]
    kind = ", rehearsal" if status.rehearsal else ""
    lines = [f"lab {status.env}: network {status.network} {status.subnet} ({internal}{kind})"]
    rows = [("HOST", "ADDRESS", "ROLES", "STATE")]
    for host in status.hosts:
        address = host.address
        if host.real_address:
            address += f" (real {host.real_address})"
        rows.append((host.name, address, ",".join(host.roles), host.state))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines += [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]
    lines.append(f"{status.running}/{len(status.hosts)} running; ssh config: {status.ssh_config}")
    return "\n".join(lines)


def status_json(status: LabStatus) -> str:
    return status.model_dump_json(indent=2)


def up_summary(result: UpResult) -> str:
    plan = result.plan
    files = ssh_files(plan.env)
    changed = sum(1 for action in result.actions.values() if action != "unchanged")
    first = plan.hosts[0].name
    lines = [
        (
            f"lab {plan.env} is up: {len(plan.hosts)} hosts, {changed} changed, "
            f"{result.seconds:.1f} s (image {result.image})"
        ),
        f"  known_hosts: {files.known_hosts}",
        f"  ssh:         deployer lab ssh -e {plan.env} {first}   (or: ssh -F {files.ssh_config} {first})",
    ]
    if plan.rehearsal:
        lines.append(f"  rehearsal:   real addresses mapped into {plan.subnet}")
    return "\n".join(lines)
