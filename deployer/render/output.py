"""Writes a rendered tree all at once: a reader sees the old tree or the new one, never half."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_tree(target: Path, fill: Callable[[Path], list[Path]]) -> list[Path]:
    """Call fill(tmpdir) to write files, then swap tmpdir into place; returns final paths."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        written = fill(staging)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / p.relative_to(staging) for p in written]
