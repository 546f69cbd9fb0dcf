"""Checks every role's molecule scenario makes of the services it installs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def assert_serving(host: Any, units: Iterable[str], address: str = "", ports: Iterable[int] = ()) -> None:
    """Each systemd unit runs and starts at boot; each TCP port listens on `address`."""
    for unit in units:
        service = host.service(unit)
        assert service.is_running, unit
        assert service.is_enabled, unit
    for port in ports:
        assert host.socket(f"tcp://{address}:{port}").is_listening, f"{address}:{port}"
