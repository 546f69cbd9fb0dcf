"""Packages the Mattermost stand-in (a TEST DOUBLE) as a byte-reproducible release tarball.

The result is laid out like upstream's `mattermost-X.Y.Z-linux-amd64.tar.gz`, with the
version (and optionally the "broken" variant) baked into `mattermost/bin/mattermost`.
Run `python build_tarball.py 10.5.1 --out-dir dist [--broken]` or call `build_tarball()`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SERVER_SOURCE = HERE / "mattermost_standin.py"
# 2024-01-01T00:00:00Z: a fixed mtime keeps the archive identical from build to build.
FIXED_MTIME = 1704067200
TOP = "mattermost"
EMPTY_DIRS = (
    "client/plugins",
    "data",
    "fonts",
    "logs",
    "plugins",
    "prepackaged_plugins",
    "templates",
)
INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Mattermost stand-in (test double)</title></head>
<body>
<h1>Mattermost stand-in</h1>
<p>This is a test double used by the deployer's tests. It is not Mattermost.</p>
</body>
</html>
"""
README = """# Mattermost stand-in (TEST DOUBLE)

This archive is laid out like a Mattermost server release but holds the deployer's
test double (`bin/mattermost`, a Python 3 program needing psycopg2), not Mattermost.
"""
I18N_EN = [{"id": "standin.notice", "translation": "Mattermost stand-in (test double)"}]


def _load_server_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mattermost_standin_for_build", SERVER_SOURCE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {SERVER_SOURCE}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_number(version: str) -> str:
    """A stable stand-in for upstream's CI build number, derived from the version."""
    return str(int(hashlib.sha256(version.encode()).hexdigest()[:8], 16))


def packaged_server(version: str, broken: bool) -> bytes:
    source = SERVER_SOURCE.read_text(encoding="utf-8")
    replacements = {
        'STANDIN_VERSION = "0.0.0"': f'STANDIN_VERSION = "{version}"',
        'STANDIN_BUILD_NUMBER = "0"': f'STANDIN_BUILD_NUMBER = "{build_number(version)}"',
        "STANDIN_BROKEN = False": f"STANDIN_BROKEN = {broken}",
    }
    for old, new in replacements.items():
        if source.count(f"\n{old}\n") != 1:
            raise RuntimeError(f"{SERVER_SOURCE.name} must hold the line {old!r} exactly once")
        source = source.replace(f"\n{old}\n", f"\n{new}\n")
    if not source.startswith("#!/usr/bin/python3\n"):
        raise RuntimeError(f"{SERVER_SOURCE.name} must start with #!/usr/bin/python3")
    return source.encode()


def _entries(version: str, broken: bool) -> list[tuple[str, bytes | None, int]]:
    """(path inside the archive, content or None for a directory, mode), sorted by path."""
    module = _load_server_module()
    module.parse_version(version)
    config = json.dumps(module.DEFAULT_CONFIG, indent=4) + "\n"
    files: dict[str, tuple[bytes | None, int]] = {
        "bin/mattermost": (packaged_server(version, broken), 0o755),
        "config/config.json": (config.encode(), 0o644),
        "client/index.html": (INDEX_HTML.encode(), 0o644),
        "i18n/en.json": ((json.dumps(I18N_EN, indent=2) + "\n").encode(), 0o644),
        "README.md": (README.encode(), 0o644),
    }
    for directory in EMPTY_DIRS:
        files[directory] = (None, 0o755)
    directories = {""}
    for path in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            directories.add("/".join(parts[:depth]))
    for directory in directories:
        files.setdefault(directory, (None, 0o755))
    return [
        (f"{TOP}/{path}" if path else TOP, content, mode) for path, (content, mode) in sorted(files.items())
    ]


def build_tarball(version: str, out_dir: Path, broken: bool = False) -> Path:
    """Write mattermost-VERSION-linux-amd64.tar.gz into out_dir and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"mattermost-{version}-linux-amd64.tar.gz"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content, mode in _entries(version, broken):
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    handle, temp_name = tempfile.mkstemp(dir=out_dir, prefix=".tarball-", suffix=".tmp")
    try:
        # filename="" and mtime=0 keep the gzip header free of build-time details.
        with (
            os.fdopen(handle, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            gz.write(tar_bytes.getvalue())
        Path(temp_name).chmod(0o644)
        Path(temp_name).replace(target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="X.Y.Z baked into the stand-in")
    parser.add_argument("--out-dir", type=Path, default=Path(), help="where to write it")
    parser.add_argument("--broken", action="store_true", help="deep ping always UNHEALTHY")
    args = parser.parse_args(argv)
    try:
        print(build_tarball(args.version, args.out_dir, broken=args.broken))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
