"""Secrets: generated once, encrypted at rest, stable across runs, never in plain text on disk."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from deployer import secrets
from deployer.topology import load_environment
from tests.conftest import DATA


@pytest.fixture
def env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "state"))
    folder = tmp_path / "inv" / "datatier"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "datatier" / "topology.yml", folder / "topology.yml")
    return folder


def test_generated_once_and_encrypted(env_dir: Path, tmp_path: Path) -> None:
    env = load_environment(None, str(env_dir))
    first = secrets.ensure_secrets(env)
    vault = env_dir / "secrets.vault.yml"
    raw = vault.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    for value in first.values():
        assert value.encode() not in raw
    again = secrets.ensure_secrets(load_environment(None, str(env_dir)))
    assert again == first
    assert vault.read_bytes() == raw, "an unchanged secret set must not be re-encrypted"
    password = tmp_path / "state" / "vault" / "datatier.pass"
    assert secrets.vault_password_file("datatier") == password
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600


def test_host_certificates_chain_to_the_environment_ca(env_dir: Path) -> None:
    env = load_environment(None, str(env_dir))
    values = secrets.ensure_secrets(env)
    assert "dt-bastion" not in values.hosts
    ca = x509.load_pem_x509_certificate(values.ca.cert.encode())
    leaf = x509.load_pem_x509_certificate(values.hosts["dt-db1"].cert.encode())
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "dt-db1" in san.get_values_for_type(x509.DNSName)
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.213.7.31", "127.0.0.1"]
    site = x509.load_pem_x509_certificate(values.site_tls.cert.encode()) if values.site_tls else None
    assert site is not None
    site_names = site.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert site_names.get_values_for_type(x509.DNSName) == ["chat.datatier.example.internal"]


def test_a_new_host_gets_a_certificate_and_nothing_else_changes(env_dir: Path) -> None:
    first = secrets.ensure_secrets(load_environment(None, str(env_dir)))
    topology = env_dir / "topology.yml"
    text = topology.read_text()
    text += "  - {name: dt-db4, address: 10.213.7.34, zone: zone-a, roles: [database]}\n"
    topology.write_text(text)
    second = secrets.ensure_secrets(load_environment(None, str(env_dir)))
    assert set(second.hosts) - set(first.hosts) == {"dt-db4"}
    assert second.postgres_superuser_password == first.postgres_superuser_password
    assert second.hosts["dt-db1"] == first.hosts["dt-db1"]


def test_the_wrong_password_is_a_clear_error(env_dir: Path, tmp_path: Path) -> None:
    env = load_environment(None, str(env_dir))
    secrets.ensure_secrets(env)
    (tmp_path / "state" / "vault" / "datatier.pass").write_text("not-the-password\n")
    with pytest.raises(secrets.SecretsError, match="cannot decrypt"):
        secrets.load_secrets(env)


def test_a_readable_password_file_is_refused(env_dir: Path, tmp_path: Path) -> None:
    env = load_environment(None, str(env_dir))
    secrets.ensure_secrets(env)
    (tmp_path / "state" / "vault" / "datatier.pass").chmod(0o644)
    with pytest.raises(secrets.SecretsError, match="readable by other users"):
        secrets.load_secrets(env)


def test_the_sites_own_certificate_is_kept_in_the_vault(env_dir: Path) -> None:
    first = secrets.ensure_secrets(load_environment(None, str(env_dir)))
    assert first.site_tls is not None
    (env_dir / "site.crt").write_text(first.site_tls.cert)
    (env_dir / "site.key").write_text(first.site_tls.key)
    data = yaml.safe_load((env_dir / "topology.yml").read_text())
    data["loadbalancer"]["tls_certificate"] = "site.crt"
    data["loadbalancer"]["tls_key"] = "site.key"
    (env_dir / "topology.yml").write_text(yaml.safe_dump(data))
    second = secrets.ensure_secrets(load_environment(None, str(env_dir)))
    assert second.site_tls is not None
    assert second.site_tls.source == "topology"
    assert second.site_tls.key == first.site_tls.key
