"""The base image recipe: its hash, its package list and where the Debian mirror comes from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from deployer.lab.errors import LabError
from deployer.lab.image import RECIPE, debian_mirror, mirror_from_sources

DEB822 = """Types: deb
URIs: http://mirror.example.internal/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main
"""


def test_recipe_holds_only_what_a_bare_host_needs() -> None:
    # Anything more would let a deploy pass without the offline bundle.
    assert set(RECIPE.packages) == {
        "systemd",
        "systemd-sysv",
        "dbus",
        "openssh-server",
        "python3",
        "sudo",
        "iproute2",
    }
    assert RECIPE.variant == "minbase"
    assert "apt-get install" not in RECIPE.customize


def test_recipe_removes_baked_host_keys() -> None:
    assert "rm -f /etc/ssh/ssh_host_*" in RECIPE.customize
    assert "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key" in RECIPE.customize


def test_tag_is_stable_and_follows_every_change() -> None:
    assert RECIPE.reference == f"deployer-lab:{RECIPE.digest()}"
    assert dataclasses.replace(RECIPE).digest() == RECIPE.digest()
    changed = dataclasses.replace(RECIPE, customize=RECIPE.customize + "true\n")
    assert changed.digest() != RECIPE.digest()
    more = dataclasses.replace(RECIPE, packages=(*RECIPE.packages, "curl"))
    assert more.digest() != RECIPE.digest()


def test_mirror_from_deb822_picks_the_suite() -> None:
    assert mirror_from_sources(DEB822, "bookworm") == "http://mirror.example.internal/debian"
    assert mirror_from_sources(DEB822, "trixie") is None


def test_mirror_from_one_line_format() -> None:
    text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example.internal/debian bookworm main\n"
    assert mirror_from_sources(text, "bookworm") == "http://m.example.internal/debian"


def test_missing_mirror_says_where_it_looked(tmp_path: Path) -> None:
    empty = tmp_path / "debian.sources"
    empty.write_text("")
    with pytest.raises(LabError, match=r"debian\.sources"):
        debian_mirror((empty,))
