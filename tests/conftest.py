"""Shared test helpers: running the CLI in-process and comparing against golden files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"
REGENERATE = os.environ.get("DEPLOYER_REGEN_GOLDEN") == "1"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run `deployer ARGS...` in this process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return run


def assert_golden(path: Path, actual: str) -> None:
    """Compare with a golden file; DEPLOYER_REGEN_GOLDEN=1 rewrites it instead."""
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"golden file {path} missing; run with DEPLOYER_REGEN_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs from the rendered output"
