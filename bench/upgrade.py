"""Benchmark: a patch upgrade of the lab's staging cluster under load, printing duration and failed requests.

Needs staging deployed in the lab on the stand-in (`deployer lab up -e staging`, `deployer deploy
-e staging`) and a bundle holding the target: `python bench/upgrade.py --to 10.5.3`. The baseline,
measured in the same run, is the request rate through the VIP before the upgrade starts.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deployer.cli.main import main
from deployer.health.http import HttpError, request, tls_context
from deployer.secrets import load_secrets
from deployer.topology import load_environment


def hammer(vip: str, host: str, ca: str, stop: threading.Event, counts: dict[str, int]) -> None:
    tls = tls_context(ca)
    while not stop.is_set():
        try:
            answer = request("GET", vip, 443, "/api/v4/system/ping", timeout=10, tls=tls, server_name=host)
            counts["ok" if answer.status == 200 else "failed"] += 1  # noqa: PLR2004
        except HttpError:
            counts["failed"] += 1


def measure(
    env: str | None, inventory: str | None, seconds: float | None, argv: list[str] | None
) -> tuple[float, dict[str, int], int]:
    environment = load_environment(env, inventory)
    topo = environment.topology
    vip, host = str(topo.loadbalancer.vip), topo.mattermost.site_url.split("//")[1]
    counts = {"ok": 0, "failed": 0}
    stop = threading.Event()
    worker = threading.Thread(
        target=hammer, args=(vip, host, load_secrets(environment).ca.cert, stop, counts)
    )
    started = time.monotonic()
    worker.start()
    code = 0
    try:
        if argv is None:
            time.sleep(seconds or 10)
        else:
            code = main(argv)
    finally:
        stop.set()
        worker.join()
    return time.monotonic() - started, counts, code


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-e", "--env", default=None, help="environment (default: staging)")
    parser.add_argument("-i", "--inventory", default=None, help="inventory folder instead of -e")
    parser.add_argument("--to", help="target patch release, in the environment's bundle")
    args = parser.parse_args(argv)
    if not args.to:
        # `make bench` runs every bench without arguments; this one needs a deployed lab cluster.
        print("bench/upgrade.py: skipped (pass --to X.Y.Z with staging deployed in the lab)")
        return 0
    env = args.env or (None if args.inventory else "staging")
    where = ["-i", args.inventory] if args.inventory else ["-e", env]
    base_seconds, base, _ = measure(env, args.inventory, 10, None)
    seconds, counts, code = measure(env, args.inventory, None, ["upgrade", "run", *where, "--to", args.to])
    print(f"baseline (no upgrade): {base['ok'] / base_seconds:.1f} req/s, {base['failed']} failed")
    print(f"patch upgrade to {args.to}: {seconds:.1f}s, exit {code}")
    print(f"  requests during the upgrade: {counts['ok']} ok, {counts['failed']} failed")
    rate, base_rate = counts["ok"] / seconds, base["ok"] / base_seconds
    print(f"  rate {rate:.1f} req/s ({100 * rate / max(base_rate, 1e-9):.0f}% of baseline)")
    return 0 if code == 0 and counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(run())
