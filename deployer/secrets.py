"""Per-environment secrets: generated once, kept encrypted with ansible-vault, never printed.

The vault file sits in the environment folder (`inventories/<env>/secrets.vault.yml`) so it
travels with the topology; its password file lives outside the repository, under
`state_dir()/vault/<env>.pass` (mode 0600), so a checkout alone never opens it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets as token
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, ValidationError

from deployer import paths
from deployer.errors import DeployerError
from deployer.topology import Environment, Role

VAULT_FILE = "secrets.vault.yml"
VAULT_VAR = "deployer_secrets"
SCHEMA = 1
# Certificates outlive any lab and most sites' refresh cycles; rotation is a new secret set.
CA_DAYS = 3650
CERT_DAYS = 1825


class SecretsError(DeployerError):
    """The vault cannot be read or written."""


class KeyPair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cert: str
    key: str


class SiteTls(KeyPair):
    source: str  # "generated" (issued by the environment CA) or "topology" (the site's own)


class Secrets(BaseModel):
    """Everything secret the roles need; the vault holds exactly this under `deployer_secrets`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA
    postgres_superuser_password: str
    postgres_replication_password: str
    mattermost_db_password: str
    patroni_restapi_password: str
    keepalived_auth_pass: str
    s3_access_key: str
    s3_secret_key: str
    ca: KeyPair
    hosts: dict[str, KeyPair]
    site_tls: SiteTls | None = None

    def values(self) -> Iterator[str]:
        """Every secret string, for leak tests and log scrubbing (certificates are public)."""
        yield from (
            self.postgres_superuser_password,
            self.postgres_replication_password,
            self.mattermost_db_password,
            self.patroni_restapi_password,
            self.keepalived_auth_pass,
            self.s3_access_key,
            self.s3_secret_key,
            self.ca.key,
        )
        yield from (pair.key for pair in self.hosts.values())
        if self.site_tls is not None:
            yield self.site_tls.key


def vault_password_file(env_name: str) -> Path:
    return paths.state_dir() / "vault" / f"{env_name}.pass"


def vault_file(env: Environment) -> Path:
    return env.root / VAULT_FILE


def ensure_secrets(env: Environment) -> Secrets:
    """Load the environment's secrets, generating whatever is missing (and only that)."""
    password = _vault_password(env.name)
    path = vault_file(env)
    current = _load(path, password, env.name) if path.is_file() else None
    wanted = _complete(env, current)
    if wanted != current:
        _save(path, wanted, password)
    return wanted


def load_secrets(env: Environment) -> Secrets:
    path = vault_file(env)
    if not path.is_file():
        raise SecretsError(f"{path} does not exist", hint=f"a deploy of {env.name} generates it")
    return _load(path, _vault_password(env.name, create=False), env.name)


def _vault_password(env_name: str, create: bool = True) -> bytes:
    path = vault_password_file(env_name)
    if path.is_file():
        if path.stat().st_mode & 0o077:
            raise SecretsError(
                f"{path} is readable by other users", hint=f"chmod 600 {path} (and consider rotating)"
            )
        return path.read_bytes().strip()
    if not create:
        raise SecretsError(
            f"no vault password for {env_name} at {path}",
            hint="copy it from the machine that first deployed this environment",
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token.token_urlsafe(32) + "\n")
    return path.read_bytes().strip()


def _vault(password: bytes) -> object:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # noqa: PLC0415 - ansible is slow to import
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])


def _load(path: Path, password: bytes, env_name: str) -> Secrets:
    from ansible.errors import AnsibleError  # noqa: PLC0415

    try:
        plain = _vault(password).decrypt(path.read_bytes())  # type: ignore[attr-defined]
    except AnsibleError as exc:
        raise SecretsError(
            f"cannot decrypt {path} with {vault_password_file(env_name)}: {exc.message}",
            hint="the vault password file must be the one that encrypted this vault",
        ) from exc
    try:
        data = yaml.safe_load(plain) or {}
        return Secrets.model_validate(data[VAULT_VAR])
    except (KeyError, TypeError, yaml.YAMLError, ValidationError) as exc:
        # Never echo the content: it is the secrets themselves.
        raise SecretsError(
            f"{path} does not hold a valid `{VAULT_VAR}` mapping ({type(exc).__name__})"
        ) from None


def _save(path: Path, value: Secrets, password: bytes) -> None:
    plain = yaml.safe_dump({VAULT_VAR: value.model_dump(mode="json")}, sort_keys=True, width=1000)
    encrypted = _vault(password).encrypt(plain)  # type: ignore[attr-defined]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(encrypted)
    tmp.replace(path)


def _password() -> str:
    return token.token_urlsafe(24)


def _complete(env: Environment, old: Secrets | None) -> Secrets:
    topo = env.topology
    ca = old.ca if old else _new_ca(env.name)
    hosts = dict(old.hosts) if old else {}
    for host in topo.hosts:
        if host.has(Role.BASTION) or host.name in hosts:
            continue
        hosts[host.name] = _issue(ca, host.name, [host.name], [str(host.address)])
    site_tls = _site_tls(env, ca, old.site_tls if old else None)
    if old is not None:
        return old.model_copy(update={"hosts": hosts, "site_tls": site_tls})
    return Secrets(
        postgres_superuser_password=_password(),
        postgres_replication_password=_password(),
        mattermost_db_password=_password(),
        patroni_restapi_password=_password(),
        # keepalived's PASS authentication uses the first 8 characters only.
        keepalived_auth_pass=token.token_hex(4),
        s3_access_key=token.token_hex(10).upper(),
        s3_secret_key=token.token_urlsafe(30),
        ca=ca,
        hosts=hosts,
        site_tls=site_tls,
    )


def _site_tls(env: Environment, ca: KeyPair, old: SiteTls | None) -> SiteTls | None:
    """The site's own certificate when the topology names one, else one issued by the CA."""
    lb = env.topology.loadbalancer
    if lb.tls_certificate and lb.tls_key:
        try:
            cert = env.relative(lb.tls_certificate).read_text(encoding="utf-8")
            key = env.relative(lb.tls_key).read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretsError(
                f"cannot read the site certificate or key: {exc.strerror}: {exc.filename}",
                hint="loadbalancer.tls_certificate and tls_key are relative to the environment folder",
            ) from exc
        return SiteTls(cert=cert, key=key, source="topology")
    if not env.topology.with_role(Role.LOADBALANCER):
        return None
    hostname = urlparse(env.topology.mattermost.site_url).hostname or env.name
    addresses = [str(lb.vip)] if lb.vip else []
    wanted = sorted([hostname, *addresses])
    if old is not None and old.source == "generated" and _names(old.cert) == wanted:
        return old
    pair = _issue(ca, hostname, [hostname], addresses, loopback=False)
    return SiteTls(cert=pair.cert, key=pair.key, source="generated")


def _names(cert_pem: str) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(
        [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _new_ca(env_name: str) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mattermost-deployer {env_name} CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),  # noqa: FBT003
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert=cert.public_bytes(serialization.Encoding.PEM).decode(), key=_pem_key(key))


def _issue(
    ca: KeyPair, common_name: str, dns: list[str], ips: list[str], *, loopback: bool = True
) -> KeyPair:
    """A leaf certificate for servers that are also clients (etcd peers, Patroni, replication)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.encode())
    ca_key = serialization.load_pem_private_key(ca.key.encode(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # pragma: no cover - we made it
        raise SecretsError("the environment CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in [*ips, *(["127.0.0.1"] if loopback else [])]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert=cert.public_bytes(serialization.Encoding.PEM).decode(), key=_pem_key(key))
