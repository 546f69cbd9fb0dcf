"""Runs checks concurrently, each under its own deadline; one check's failure never hides another's."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError

from deployer.health.checks import Check
from deployer.health.model import CheckReport, HealthReport, Result
from deployer.health.targets import Targets

# Time a check gets beyond its own request timeout (connect + read + a retry of another node).
GRACE_SECONDS = 5.0


def _run_one(check: Check, targets: Targets) -> CheckReport:
    started = time.monotonic()
    try:
        results = check.run(targets)
    except Exception as exc:  # noqa: BLE001 - a broken check is reported as failing, the others still run
        results = [Result.fail(check.name, f"the check itself failed: {type(exc).__name__}: {exc}")]
    return CheckReport(check.name, check.title, results, time.monotonic() - started)


def run_checks(targets: Targets, checks: Sequence[Check]) -> HealthReport:
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="health")
    try:
        futures: list[tuple[Check, Future[CheckReport]]] = [
            (check, pool.submit(_run_one, check, targets)) for check in checks
        ]
        reports = []
        for check, future in futures:
            deadline = started + check.timeout * 2 + GRACE_SECONDS
            try:
                reports.append(future.result(timeout=max(deadline - time.monotonic(), 0)))
            except FutureTimeoutError:
                waited = time.monotonic() - started
                reports.append(
                    CheckReport(
                        check.name,
                        check.title,
                        [Result.fail(check.name, f"no result within {waited:.0f}s")],
                        waited,
                    )
                )
    finally:
        # Requests carry socket timeouts, so a straggler ends on its own; do not wait for it.
        pool.shutdown(wait=False, cancel_futures=True)
    return HealthReport(targets.environment, reports, time.monotonic() - started)
