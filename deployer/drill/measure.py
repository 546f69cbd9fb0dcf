"""Turns a drill's recorded requests and moments into its figures; pure functions, exact and tested."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Op(StrEnum):
    WRITE = "post-write"
    READ = "post-read"
    UPLOAD = "file-upload"
    DOWNLOAD = "file-download"


@dataclass(frozen=True)
class Event:
    """One request of the synthetic load: what, for which unique id, when, and how it ended."""

    op: Op
    uid: str
    started: float
    ended: float
    ok: bool
    ref: str = ""  # the server's id of what was written (post id, file id)
    error: str = ""


@dataclass(frozen=True)
class Moments:
    """When things happened, on the drill's clock; None when they never did."""

    load_started: float
    fault_at: float
    detected_at: float | None
    healed_at: float | None
    green_at: float | None
    load_stopped: float


@dataclass(frozen=True)
class Verification:
    """Acknowledged writes and files read back after the cluster is green again."""

    writes_acknowledged: int
    writes_lost: tuple[str, ...]
    files_acknowledged: int
    files_lost: tuple[str, ...]


@dataclass(frozen=True)
class Figures:
    detection_seconds: float | None
    recovery_seconds: float | None
    failed_requests: int
    failed_writes: int
    requests_after_fault: int
    failed_before_fault: int
    writes_acknowledged: int
    writes_lost: int
    files_acknowledged: int
    files_lost: int
    heal_to_green_seconds: float | None


def recovered_at(events: Sequence[Event], fault_at: float) -> float | None:
    """When the first successful write after the outage ended.

    The outage lasts from the fault to the start of the last failed write; the first write that
    started after both and succeeded marks recovery. A write started before the fault does not
    count even if it ends after it (it proves nothing about the failed-over service).
    """
    writes = [e for e in events if e.op is Op.WRITE]
    failed = [e.started for e in writes if not e.ok and e.ended >= fault_at]
    since = max([fault_at, *failed])
    ends = [e.ended for e in writes if e.ok and e.started >= since]
    return min(ends) if ends else None


def measure(events: Sequence[Event], moments: Moments, verification: Verification) -> Figures:
    """Every figure of one drill from the raw record."""
    fault = moments.fault_at
    after = [e for e in events if e.ended >= fault]
    before = [e for e in events if e.ended < fault]
    recovered = recovered_at(events, fault)
    return Figures(
        detection_seconds=_since(moments.detected_at, fault),
        recovery_seconds=_since(recovered, fault),
        failed_requests=sum(1 for e in after if not e.ok),
        failed_writes=sum(1 for e in after if not e.ok and e.op is Op.WRITE),
        requests_after_fault=len(after),
        failed_before_fault=sum(1 for e in before if not e.ok),
        writes_acknowledged=verification.writes_acknowledged,
        writes_lost=len(verification.writes_lost),
        files_acknowledged=verification.files_acknowledged,
        files_lost=len(verification.files_lost),
        heal_to_green_seconds=(
            _since(moments.green_at, moments.healed_at) if moments.healed_at is not None else None
        ),
    )


def _since(moment: float | None, start: float) -> float | None:
    return None if moment is None else round(moment - start, 3)
