"""Progress for long steps: rich bars on a terminal, plain timestamped lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Advance(Protocol):
    def __call__(self, amount: int) -> None: ...


class Reporter:
    """Where long steps report; bars only when a person is watching a terminal."""

    def __init__(self, *, interactive: bool | None = None, quiet: bool = False) -> None:
        if interactive is None:
            interactive = sys.stdout.isatty() and sys.stderr.isatty()
        self.interactive = interactive and not quiet
        self.quiet = quiet
        self._console = Console(stderr=True)

    def line(self, message: str) -> None:
        if not self.quiet:
            self._console.print(message, highlight=False, markup=False, soft_wrap=True)

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        """A step whose length is unknown: one line when it starts, one when it ends."""
        start = time.monotonic()
        self.line(f"{message} ...")
        yield
        self.line(f"{message}: done in {time.monotonic() - start:.1f}s")

    @contextmanager
    def bar(self, message: str, total: int) -> Iterator[Advance]:
        """A step measured in bytes; a bar on a terminal, two plain lines elsewhere."""
        start = time.monotonic()
        if not self.interactive:
            self.line(f"{message} ({_human(total)}) ...")
            yield _ignore
            self.line(f"{message}: done in {time.monotonic() - start:.1f}s")
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        with progress:
            task: TaskID = progress.add_task(message, total=total)

            def advance(amount: int) -> None:
                progress.advance(task, amount)

            yield advance


def _ignore(amount: int) -> None:
    del amount


_STEP = 1024


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < _STEP or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= _STEP
    return f"{value:.1f} GiB"


def human_size(size: int) -> str:
    return _human(size)
