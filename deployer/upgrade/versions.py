"""Release versions and the strategy Mattermost's upgrade rules allow from the live versions to a target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from deployer.upgrade.errors import UpgradeRefusedError

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """'10.5.2', or the start of an X-Version-Id header such as '10.5.2.123.abc.true'."""
        match = _VERSION.match(text.strip())
        if match is None:
            raise UpgradeRefusedError(f"'{text}' is not a Mattermost release version (X.Y.Z)")
        major, minor, patch = (int(g) for g in match.groups())
        return cls(major, minor, patch)

    @property
    def minor_line(self) -> tuple[int, int]:
        return self.major, self.minor

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class Strategy(StrEnum):
    NOTHING = "nothing"  # every node already runs the target
    ROLLING = "rolling"  # patch release: one node at a time, drained from the load balancers
    WINDOW = "maintenance-window"  # minor or major release: downtime, one node migrates


def minor_distance(a: Version, b: Version) -> int:
    """How many minor releases lie between two versions; a major step counts as more than one."""
    if a.major != b.major:
        return 1000 * abs(a.major - b.major)
    return abs(a.minor - b.minor)


def choose_strategy(live: dict[str, Version], target: Version) -> Strategy:
    """The only strategy the rules allow, or UpgradeRefusedError naming the rule and what to do."""
    if not live:
        raise UpgradeRefusedError(
            "no app node reported its version",
            hint="run `deployer health -e ENV` and bring the nodes up first",
        )
    versions = sorted(set(live.values()))
    lowest, highest = versions[0], versions[-1]
    described = ", ".join(f"{node} {version}" for node, version in sorted(live.items()))
    if minor_distance(lowest, highest) > 1:
        raise UpgradeRefusedError(
            f"the cluster already runs versions more than one minor release apart ({described})",
            hint="bring every node to one release with `deployer deploy` before planning an upgrade",
        )
    if target < highest:
        raise UpgradeRefusedError(
            f"{target} is older than {highest}, which runs on the cluster ({described}); "
            "a downgrade is not an upgrade: the database schema of the newer release stays",
            hint="restore the backup taken before the last upgrade instead (see its runbook)",
        )
    if lowest.minor_line != highest.minor_line:
        # A half-finished minor upgrade: only finishing it (to the newer line) keeps the rule.
        if target.minor_line != highest.minor_line:
            raise UpgradeRefusedError(
                f"the cluster is in the middle of an upgrade ({described}); going to {target} now "
                "would put nodes more than one minor release apart",
                hint=f"first finish the upgrade: deployer upgrade run -e ENV --to {highest} --resume",
            )
        return Strategy.WINDOW
    if target == highest == lowest:
        return Strategy.NOTHING
    if target.minor_line == highest.minor_line:
        return Strategy.ROLLING
    if target.major > highest.major + 1:
        # Migrations of skipped minors run in order on the one migrating node, but a whole
        # major release is a required stop (upstream removes old migration paths per major).
        raise UpgradeRefusedError(
            f"{highest} -> {target} skips major release {highest.major + 1}, a required step",
            hint=f"upgrade to the last {highest.major + 1}.x release (an ESR) first, then to {target}",
        )
    return Strategy.WINDOW
