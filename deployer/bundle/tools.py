"""Runs the external tools the builder needs and turns their failures into readable errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deployer.bundle.errors import BundleInputError, BundleToolError

SOURCES_FILE = Path("/etc/apt/sources.list.d/debian.sources")


def require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BundleToolError(
            f"'{tool}' is not installed on this machine",
            hint=f"install the Debian package '{package}' (apt-get install -y {package})",
        )
    return found


def run(
    args: list[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a tool; on failure show its last lines, which name the real cause."""
    merged = {**os.environ, **(env or {})}
    proc = subprocess.run(args, cwd=cwd, env=merged, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-12:]
        raise BundleToolError(
            f"{what} failed (exit {proc.returncode}): {args[0]}\n    " + "\n    ".join(tail),
            hint="fix the cause above and run the build again; finished downloads stay cached",
        )
    return proc


def debian_mirror(sources: Path = SOURCES_FILE) -> str:
    """The machine's own Debian mirror: read at run time, never written into the project."""
    try:
        text = sources.read_text()
    except OSError as exc:
        raise BundleInputError(
            f"cannot read the apt sources {sources}: {exc.strerror}",
            hint="the connected side needs a deb822 sources file naming a Debian mirror",
        ) from exc
    for stanza in text.split("\n\n"):
        fields = _deb822(stanza)
        suites = fields.get("Suites", "").split()
        if any("security" in s for s in suites):
            continue
        uris = fields.get("URIs", "").split()
        if uris:
            return uris[0]
    raise BundleInputError(
        f"no Debian mirror (URIs:) found in {sources}", hint="add a deb822 stanza with URIs:"
    )


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields
