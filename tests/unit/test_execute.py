"""Execution plumbing: the ansible-playbook command line, SSH trust, the callback's recap, redaction."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deployer.execute.deploy import DeployResult, _failure_message
from deployer.execute.runner import (
    PROJECT_CFG,
    Failure,
    HostRecap,
    PlaybookRequest,
    PlaybookRun,
    SshAccess,
    command_line,
    environment,
    redactor,
    run_playbook,
)
from deployer.execute.serve import BundleServer

SECRET = "s3cr3t-Value-that-must-never-show"  # noqa: S105 - the value the test hunts for


def test_ssh_always_verifies_host_keys(tmp_path: Path) -> None:
    ssh = SshAccess(private_key=tmp_path / "id", known_hosts=tmp_path / "known_hosts")
    args = ssh.ssh_args(tmp_path)
    assert "StrictHostKeyChecking=yes" in args
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in args
    assert "GlobalKnownHostsFile=/dev/null" in args
    config = PROJECT_CFG.read_text()
    assert "host_key_checking = true" in config
    # Every StrictHostKeyChecking the config sets is "yes".
    assert all(
        line.split("StrictHostKeyChecking=", 1)[1].split()[0] == "yes"
        for line in config.splitlines()
        if "StrictHostKeyChecking=" in line
    )


def test_command_line_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "False")
    request = PlaybookRequest(
        playbook=tmp_path / "site.yml",
        inventory=tmp_path / "inventory.yml",
        extra_vars_files=(tmp_path / "vars.json", tmp_path / "secrets.vault.yml"),
        vault_password_file=tmp_path / "env.pass",
        ssh=SshAccess(private_key=tmp_path / "id", known_hosts=tmp_path / "kh"),
        log_file=tmp_path / "deploy.log",
        check=True,
        diff=True,
        limit="database",
        tags="etcd,database",
    )
    argv = command_line(request)
    assert argv[1:3] == ["-i", str(tmp_path / "inventory.yml")]
    assert ["-e", f"@{tmp_path / 'secrets.vault.yml'}"] == argv[5:7]
    assert "--vault-password-file" in argv
    assert "--check" in argv
    assert "--diff" in argv
    assert argv[argv.index("--limit") + 1] == "database"
    assert argv[argv.index("--tags") + 1] == "etcd,database"
    assert argv[-1] == str(tmp_path / "site.yml")
    env = environment(request, tmp_path, tmp_path / "recap.json")
    # A user's stray setting never switches host key checking off.
    assert "ANSIBLE_HOST_KEY_CHECKING" not in env
    assert env["ANSIBLE_CONFIG"] == str(PROJECT_CFG)
    assert "StrictHostKeyChecking=yes" in env["ANSIBLE_SSH_ARGS"]
    baseline = environment(
        PlaybookRequest(playbook=request.playbook, inventory=request.inventory, tuned=False),
        tmp_path,
        tmp_path / "recap.json",
    )
    assert "host_key_checking = true" in Path(baseline["ANSIBLE_CONFIG"]).read_text()
    assert "pipelining" not in Path(baseline["ANSIBLE_CONFIG"]).read_text()


def test_redactor_hides_secrets_and_key_lines() -> None:
    body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"
    key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    redact = redactor([SECRET, key])
    assert SECRET not in redact(f"password={SECRET}")
    assert "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg" not in redact(
        "line: MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"
    )
    assert redact("nothing to hide") == "nothing to hide"


def test_bundle_server_serves_files_not_listings(tmp_path: Path) -> None:
    (tmp_path / "apt").mkdir()
    (tmp_path / "apt" / "Release").write_text("Suite: bookworm\n")
    with BundleServer(tmp_path, towards="127.0.0.1", port=0) as server:
        assert server.address == "127.0.0.1"
        with urllib.request.urlopen(f"{server.url}/apt/Release", timeout=5) as response:  # noqa: S310
            assert response.read() == b"Suite: bookworm\n"
        with pytest.raises(urllib.error.HTTPError) as listing:
            urllib.request.urlopen(f"{server.url}/apt/", timeout=5)  # noqa: S310
        assert listing.value.code == 403


PLAYBOOK = """
- name: Demo | one host, local
  hosts: all
  gather_facts: false
  tasks:
    - name: Demo | a change
      ansible.builtin.copy:
        content: "{{ secret }}"
        dest: "{{ out }}/secret.txt"
        mode: "0600"
      no_log: true
    - name: Demo | read only
      ansible.builtin.command: "true"
      changed_when: false
    - name: Demo | the failing task
      ansible.builtin.command: "false"
      no_log: true
"""


def test_callback_recap_names_host_and_task_and_hides_no_log(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    box1:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
    )
    (tmp_path / "vars.yml").write_text(f"secret: {SECRET}\nout: {tmp_path}\n")
    lines: list[str] = []
    request = PlaybookRequest(
        playbook=tmp_path / "site.yml",
        inventory=tmp_path / "inventory.yml",
        extra_vars_files=(tmp_path / "vars.yml",),
        log_file=tmp_path / "logs" / "deploy.log",
    )
    run = run_playbook(request, lines.append)
    assert run.returncode != 0
    assert run.hosts["box1"] == HostRecap(ok=2, changed=1, failed=1)
    assert [(f.host, f.task) for f in run.failures] == [("box1", "Demo | the failing task")]
    output = "\n".join(lines)
    assert "play 1/1: Demo | one host, local" in output
    assert "changed  Demo | a change: box1" in output
    assert "FAILED       box1             Demo | the failing task" in output
    assert SECRET not in output
    assert SECRET not in run.log_file.read_text()


def test_failure_message_names_host_and_task(tmp_path: Path) -> None:
    run = PlaybookRun(
        returncode=2,
        log_file=tmp_path / "x.log",
        hosts={"db1": HostRecap(ok=3, failed=1), "db2": HostRecap(ok=3, failed=1)},
        failures=[
            Failure("db1", "Patroni | wait", "Database", "timed out"),
            Failure("db2", "Patroni | wait", "Database", "timed out"),
        ],
    )
    message = _failure_message("staging", run)
    assert message == "deploy of staging failed on db1, task 'Patroni | wait': timed out (also failed: db2)"
    table = DeployResult("staging", run, 0.0, 1.0).table()
    assert table.splitlines()[0].split() == ["host", "ok", "changed", "failed", "unreachable", "skipped"]
    assert table.splitlines()[1].split() == ["db1", "3", "0", "1", "0", "0"]


def test_deploy_refuses_a_missing_bundle_before_anything_else(run_cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))
    result = run_cli("deploy", "-i", "tests/data/datatier", "--bundle", str(tmp_path / "missing.tar.zst"))
    assert result.code == 2
    assert "Traceback" not in result.err
    assert "missing.tar.zst" in result.err
    # Nothing was generated or rendered: the bundle is checked first.
    assert not (tmp_path / "state" / "vault").exists()


def test_a_failed_deploy_is_posted_to_the_webhook_and_keeps_its_exit_code(
    run_cli, tmp_path: Path, monkeypatch
) -> None:
    import http.server  # noqa: PLC0415
    import json  # noqa: PLC0415
    import threading  # noqa: PLC0415

    received: list[dict[str, str]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/secret-key"
        missing = str(tmp_path / "missing.tar.zst")
        result = run_cli("deploy", "-i", "tests/data/datatier", "--bundle", missing, "--notify", url)
    finally:
        server.shutdown()
    assert result.code == 2  # as without --notify
    assert len(received) == 1
    assert received[0]["username"] == "deployer"
    assert received[0]["text"].startswith("#### deploy of datatier: FAILED")
    assert "missing.tar.zst" in received[0]["text"]
    assert "notified http://127.0.0.1" in result.err
    assert "secret-key" not in result.err  # the webhook's path is its key: never printed


def test_a_webhook_that_is_down_is_reported_and_changes_no_exit_code(
    run_cli, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))
    missing = str(tmp_path / "missing.tar.zst")
    url = "http://127.0.0.1:9/hooks/x"  # the discard port: nothing listens
    result = run_cli("deploy", "-i", "tests/data/datatier", "--bundle", missing, "--notify", url)
    assert result.code == 2
    assert "warning: notification not sent" in result.err
    assert "Traceback" not in result.err


def test_the_environment_ca_certificate_is_exported_for_browsers(tmp_path: Path) -> None:
    from deployer.execute.deploy import export_ca  # noqa: PLC0415

    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    path = export_ca("staging", pem, tmp_path)
    assert path == tmp_path / "staging-ca.crt"
    assert path.read_text() == pem + "\n"
    assert path.stat().st_mode & 0o777 == 0o644
