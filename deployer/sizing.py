"""Mattermost's published reference architectures, and what they say about a given user count."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One upstream-tested architecture (concurrent users -> tier sizes)."""

    users: int
    app_nodes: int
    app_vcpu: int
    app_mem_gib: int
    db_readers: int
    search_nodes: int
    proxies: int

    @property
    def users_per_app_node(self) -> int:
        return self.users // self.app_nodes


REFERENCES: tuple[Reference, ...] = (
    Reference(2_000, 2, 2, 4, 1, 2, 1),
    Reference(15_000, 2, 4, 8, 1, 2, 1),
    Reference(50_000, 5, 8, 16, 4, 4, 1),
    Reference(100_000, 6, 16, 32, 5, 4, 1),
    Reference(200_000, 14, 16, 32, 6, 4, 4),
)


def reference_for(users: int) -> Reference:
    """The smallest tested architecture that carries `users`; scaled linearly beyond the largest."""
    for ref in REFERENCES:
        if users <= ref.users:
            return ref
    largest = REFERENCES[-1]
    factor = math.ceil(users / largest.users)
    return Reference(
        users=largest.users * factor,
        app_nodes=largest.app_nodes * factor,
        app_vcpu=largest.app_vcpu,
        app_mem_gib=largest.app_mem_gib,
        db_readers=largest.db_readers,
        search_nodes=largest.search_nodes,
        proxies=largest.proxies * factor,
    )


def app_capacity(users: int, nodes: int) -> int:
    """Concurrent users `nodes` app nodes of the reference size for `users` carry."""
    return reference_for(users).users_per_app_node * nodes
