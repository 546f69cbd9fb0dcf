"""Health report formats on one fixed staging report: golden files, the JSON schema, JUnit, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from deployer.errors import ExitCode
from deployer.health import formats, readiness
from deployer.health.formats import hosts as host_view
from deployer.health.formats import jsondoc, markdown
from deployer.health.model import CheckReport, HealthReport, Result, Status
from deployer.topology import load_environment
from tests.conftest import DATA, GOLDEN, assert_golden

FIXED = DATA / "health" / "staging-report.json"
WHEN = "2026-11-27T12:00:00Z"
SUFFIX = {"text": "txt", "json": "json", "junit": "junit.xml", "markdown": "md", "html": "html"}


def load_report(path: Path = FIXED) -> HealthReport:
    data = json.loads(path.read_text(encoding="utf-8"))
    checks = [
        CheckReport(
            c["name"],
            c["title"],
            [Result(r["target"], Status(r["status"]), r["summary"], r["details"]) for r in c["results"]],
            c["elapsed"],
        )
        for c in data["checks"]
    ]
    return HealthReport(data["environment"], checks, data["elapsed"])


def fixed_report() -> tuple[HealthReport, list[host_view.HostView]]:
    """The recorded staging report plus its live failover readiness (elapsed pinned for golden files)."""
    topology = load_environment("staging").topology
    base = load_report()
    found = readiness.assess(topology, readiness.live_state(topology, base))
    report = HealthReport(base.environment, [*base.checks, readiness.as_check(found)], base.elapsed)
    return report, host_view.host_views(topology, report)


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_every_format_matches_its_golden_file(fmt: str) -> None:
    report, hosts = fixed_report()
    rendered = formats.render(report, fmt, hosts, generated_at=WHEN)
    assert_golden(GOLDEN / "health" / f"staging.{SUFFIX[fmt]}", rendered)


def test_json_follows_the_shipped_schema() -> None:
    report, hosts = fixed_report()
    document = json.loads(formats.render(report, "json", hosts, WHEN))
    schema = json.loads(jsondoc.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert document["status"] == "fail"
    assert document["exit_code"] == 3
    assert [h["name"] for h in document["hosts"] if h["status"] == "fail"] == ["stg-lb2"]
    lb1 = next(f for f in document["failover"] if f["lost"] == "stg-lb1")
    assert lb1["survives"] is False
    assert lb1["by_design"] is True


def test_the_schema_rejects_a_document_missing_a_key() -> None:
    report, hosts = fixed_report()
    document = jsondoc.document(report, hosts)
    del document["failover"]
    schema = json.loads(jsondoc.SCHEMA_FILE.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_junit_has_one_testcase_per_check_and_fails_only_failed_checks() -> None:
    report, _ = fixed_report()
    root = ET.fromstring(formats.render(report, "junit"))  # noqa: S314 - our own output
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report.checks)
    failed = [c.get("name", "").split(":")[0] for c in cases if c.find("failure") is not None]
    assert failed == ["hosts", "loadbalancers"]
    assert root.get("failures") == "2"
    warned = [c.get("name", "").split(":")[0] for c in cases if c.find("system-err") is not None]
    assert warned == ["headroom", "replication", "failover"]


def test_the_picture_shows_every_host_in_its_zone_colored_by_status() -> None:
    report, hosts = fixed_report()
    page = formats.render(report, "html", hosts)
    for host in load_environment("staging").topology.hosts:
        assert f'data-host="{host.name}"' in page
    assert 'data-host="stg-lb2" data-status="fail"' in page
    assert 'data-host="stg-st2" data-status="warn"' in page
    assert page.count('class="zone"') == 3
    # With stg-lb2 dead, stg-lb1 and its zone are single points of failure right now.
    assert 'data-host="stg-lb1" data-status="ok" data-fragile="true"' in page
    assert 'data-zone="zone-a" data-fragile="true"' in page
    assert 'data-zone="zone-b" data-fragile="false"' in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.OK, Status.SKIP], ExitCode.OK),
        ([Status.OK, Status.WARN], ExitCode.WARNINGS),
        ([Status.WARN, Status.FAIL], ExitCode.CHECK_FAILED),
    ],
)
def test_exit_codes(statuses: list[Status], code: ExitCode) -> None:
    checks = [CheckReport(f"c{i}", "t", [Result("x", s, "y")], 0.0) for i, s in enumerate(statuses)]
    assert formats.exit_code(HealthReport("e", checks, 0.0)) == code


def test_chat_summary_is_a_link_free_table_of_what_is_wrong() -> None:
    report, _ = fixed_report()
    text = markdown.summary(report)
    assert text.splitlines()[0].startswith("**deployer health staging: FAILING")
    assert "| loadbalancers | stg-lb2 | FAIL | HAProxy stats: timed out |" in text
    assert "://" not in text
    assert "| app-ping |" not in text  # only what is not ok


def test_an_unknown_format_is_refused() -> None:
    report, hosts = fixed_report()
    with pytest.raises(ValueError, match="unknown format"):
        formats.render(report, "yaml", hosts)
