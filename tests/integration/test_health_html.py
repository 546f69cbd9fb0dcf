"""The HTML health report in headless Chromium: it renders, every host is drawn, a screenshot is written."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from deployer.health import formats
from tests.unit.test_health_report import WHEN, fixed_report

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
# Everything that could reach out is off; the page itself is one file with nothing to fetch.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def unfilter(kind: int, line: bytearray, previous: bytearray, channels: int) -> bytearray:
    """Undo one PNG scanline filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    for i in range(len(line)):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        corner = previous[i - channels] if i >= channels else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            guess = left + up - corner
            best = min(
                (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
            )
            line[i] = (line[i] + best[2]) & 0xFF
    return line


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of RGB colors of an 8-bit RGB(A) PNG (enough for a screenshot)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colors: set[tuple[int, int, int]] = set()
    for row in range(height):
        start = row * (stride + 1)
        line = unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels)
        for i in range(0, stride, channels * 4):  # every 4th pixel is plenty
            colors.add((line[i], line[i + 1], line[i + 2]))
        previous = line
    return width, height, colors


def test_the_report_renders_in_chromium_with_every_host(tmp_path: Path) -> None:
    report, hosts = fixed_report()
    page = tmp_path / "health.html"
    page.write_text(formats.render(report, "html", hosts, WHEN), encoding="utf-8")

    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    drawn = [h.name for h in hosts if f'data-host="{h.name}"' in dom.stdout]
    assert drawn == [h.name for h in hosts]

    shot = tmp_path / "health.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,700", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file()
    width, height, colors = png_pixels(shot)
    assert (width, height) == (1000, 700)
    # The picture is really drawn: the failed host's red, the warning amber and ok green are on screen.
    assert {(0xC6, 0x28, 0x28), (0xF9, 0xA8, 0x25), (0x2E, 0x7D, 0x32)} <= colors
