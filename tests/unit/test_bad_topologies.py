"""Every bad topology in the corpus produces its exact message and exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, assert_golden

CORPUS = DATA / "bad_topologies"
CASES = sorted(CORPUS.glob("*.yml"))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_topology_message(case: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    result = run_cli("validate", "-i", case.name)
    assert "Traceback" not in result.out + result.err
    assert result.code in {2, 3, 4}, f"{case.name} was accepted"
    actual = f"exit {result.code}\n--- stdout\n{result.out}--- stderr\n{result.err}"
    assert_golden(case.with_suffix(".expected"), actual)
