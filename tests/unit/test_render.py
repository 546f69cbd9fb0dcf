"""Rendering is deterministic, matches the golden files, and never half-applies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployer.errors import CheckFailedError
from deployer.render import render_environment
from deployer.topology import load_environment
from tests.conftest import DATA, GOLDEN, assert_golden


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_render_matches_golden(name: str, tmp_path: Path) -> None:
    env = load_environment(name)
    render_environment(env, tmp_path / name)
    tree = _tree(tmp_path / name)
    golden_root = GOLDEN / "render" / name
    if not tree:
        pytest.fail("nothing rendered")
    for rel, text in tree.items():
        assert_golden(golden_root / rel, text)
    expected = {str(p.relative_to(golden_root)) for p in golden_root.rglob("*") if p.is_file()}
    assert set(tree) == expected


def test_render_is_byte_identical_across_runs(tmp_path: Path) -> None:
    env = load_environment("prod")
    render_environment(env, tmp_path / "a")
    render_environment(env, tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_inventory_has_one_group_per_role_and_prefixed_vars(tmp_path: Path) -> None:
    env = load_environment("staging")
    render_environment(env, tmp_path)
    inv = yaml.safe_load((tmp_path / "ansible/inventory.yml").read_text())
    groups = inv["all"]["children"]
    assert set(groups) == {"app", "database", "etcd", "loadbalancer", "storage", "bastion"}
    assert set(groups["etcd"]["hosts"]) == {"stg-db1", "stg-db2", "stg-db3"}
    prefixes = {"app": "mattermost_", "database": ("postgresql_", "patroni_"), "etcd": "etcd_"}
    for group, prefix in prefixes.items():
        data = yaml.safe_load((tmp_path / f"ansible/group_vars/{group}.yml").read_text())
        assert all(key.startswith(prefix) for key in data), group
    lb = yaml.safe_load((tmp_path / "ansible/group_vars/loadbalancer.yml").read_text())
    assert [b["name"] for b in lb["haproxy_app_backends"]] == ["stg-app1", "stg-app2"]
    assert lb["keepalived_vip"] == "10.213.2.10"
    db = yaml.safe_load((tmp_path / "ansible/group_vars/database.yml").read_text())
    assert db["patroni_loop_wait"] + 2 * db["patroni_retry_timeout"] <= db["patroni_ttl"]
    storage = yaml.safe_load((tmp_path / "ansible/group_vars/storage.yml").read_text())
    assert storage["seaweedfs_replication"] == "100"


def test_render_refuses_a_failing_topology_and_keeps_the_old_output(tmp_path: Path) -> None:
    good = load_environment("staging")
    out = tmp_path / "out"
    render_environment(good, out)
    before = _tree(out)
    bad = load_environment(inventory=str(DATA / "bad_topologies" / "37-single-load-balancer.yml"))
    with pytest.raises(CheckFailedError, match=r"breaks 4 rule\(s\), first \[lb-redundancy\]") as info:
        render_environment(bad, out)
    assert "nothing was rendered" in info.value.hint
    assert _tree(out) == before


def test_a_failure_while_writing_leaves_the_old_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = load_environment("staging")
    out = tmp_path / "out"
    render_environment(env, out)
    before = _tree(out)

    def boom(*_args: object, **_kwargs: object) -> list[Path]:
        raise OSError("disk full")

    monkeypatch.setattr("deployer.render.render_ansible", boom)
    with pytest.raises(OSError, match="disk full"):
        render_environment(env, out)
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
