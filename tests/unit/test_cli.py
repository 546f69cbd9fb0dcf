"""The CLI's contract: exit codes, machine-readable output, and messages instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deployer.topology.schema import schema_text
from tests.conftest import DATA, ROOT


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_validate_sample_environments_exit_zero(name: str, run_cli) -> None:
    result = run_cli("validate", "-e", name)
    assert result.code == 0, result.out + result.err
    assert "0 error(s), 0 warning(s)" in result.out


def test_explain_prod_shows_no_spof(run_cli) -> None:
    result = run_cli("validate", "-e", "prod", "--explain")
    assert result.code == 0
    assert "single points of failure: none" in result.out
    assert "zone zone-c" in result.out


def test_explain_dev_shows_its_accepted_spofs(run_cli) -> None:
    result = run_cli("validate", "-e", "dev", "--explain")
    assert result.code == 0
    assert "host dev-node1: stops load balancer, app, etcd, database writes" in result.out
    assert "accepted (spof" in result.out
    assert "NOT ACCEPTED" not in result.out


def test_validate_json_carries_findings_and_analysis(run_cli) -> None:
    result = run_cli("validate", "-e", "dev", "--explain", "--format", "json")
    doc = json.loads(result.out)
    assert doc["environment"] == "dev"
    assert doc["exit_code"] == 0
    assert {f["rule"] for f in doc["findings"]} >= {"app-redundancy", "spof"}
    assert all(f["accepted"] for f in doc["findings"])
    spofs = doc["analysis"]["single_points_of_failure"]
    assert spofs[0]["target"] == "dev-node1"
    assert spofs[0]["accepted_by"][0]["rule"] == "spof"


def test_validate_json_errors_have_file_line_and_key(run_cli) -> None:
    case = DATA / "bad_topologies" / "35-etcd-zone-majority.yml"
    result = run_cli("validate", "-i", str(case), "--format", "json")
    assert result.code == 3
    doc = json.loads(result.out)
    finding = next(f for f in doc["findings"] if f["rule"] == "etcd-zone-majority")
    assert (finding["line"], finding["key"]) == (32, "hosts[4].zone")


def test_unknown_environment_suggests_the_closest(run_cli) -> None:
    result = run_cli("validate", "-e", "stagin")
    assert result.code == 2
    assert "environment 'stagin' not found" in result.err
    assert "did you mean 'staging'?" in result.err


def test_missing_inventory_path_is_bad_input(run_cli, tmp_path: Path) -> None:
    result = run_cli("validate", "-i", str(tmp_path / "nowhere"))
    assert result.code == 2
    assert "no topology file at" in result.err
    assert "Traceback" not in result.err


def test_binary_garbage_is_reported_not_crashed(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "topology.yml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    result = run_cli("validate", "-i", str(tmp_path))
    assert result.code == 2
    assert "cannot read file" in result.err


def test_unknown_option_is_usage_error(run_cli) -> None:
    result = run_cli("validate", "--nope")
    assert result.code == 2


def test_internal_errors_exit_one_without_traceback(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("deployer.cli.validate.run_checks", broken)
    result = run_cli("validate", "-e", "dev")
    assert result.code == 1
    assert "internal error: RuntimeError: boom" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("users", [50, 2000, 15000, 50000, 100000, 200000, 450000])
def test_plan_skeletons_pass_every_rule(users: int, run_cli, tmp_path: Path) -> None:
    planned = run_cli("plan", "--users", str(users), "--name", "site")
    assert planned.code == 0
    path = tmp_path / "topology.yml"
    path.write_text(planned.out)
    data = yaml.safe_load(planned.out)
    assert len([h for h in data["hosts"] if "app" in h["roles"]]) >= 2
    result = run_cli("validate", "-i", str(path), "--explain")
    assert result.code == 0, result.out
    assert "single points of failure: none" in result.out


def test_plan_for_kubernetes_passes_once_the_image_is_pinned(run_cli, tmp_path: Path) -> None:
    planned = run_cli("plan", "--users", "5000", "--platform", "kubernetes")
    assert "pinned by" in planned.out
    path = tmp_path / "topology.yml"
    path.write_text(planned.out)
    unpinned = run_cli("validate", "-i", str(path))
    assert unpinned.code == 2
    assert "kubernetes.mattermost_image is not set" in unpinned.err
    data = yaml.safe_load(planned.out)
    data["kubernetes"]["mattermost_image"] = (
        "mattermost/mattermost-enterprise-edition:10.5.2@sha256:" + "ab" * 32
    )
    data["kubernetes"]["registry"] = "registry.site.example.internal"
    path.write_text(yaml.safe_dump(data))
    result = run_cli("validate", "-i", str(path))
    assert result.code == 0, result.out + result.err


def test_published_schema_matches_the_model() -> None:
    published = (ROOT / "deployer/schema/topology.schema.json").read_text()
    assert published == schema_text(), "run: python -m deployer.topology.schema"


def test_render_command_writes_where_it_says(run_cli, tmp_path: Path) -> None:
    result = run_cli("render", "-e", "staging", "-o", str(tmp_path / "out"))
    assert result.code == 0
    assert f"into {tmp_path / 'out'}/" in result.out
    assert (tmp_path / "out/ansible/inventory.yml").is_file()
