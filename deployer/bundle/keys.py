"""Bundle keys: Ed25519 for the manifest signature, and an OpenPGP key for the apt repository."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deployer.bundle.errors import BundleInputError, BundleSignatureError
from deployer.bundle.tools import require, run

PRIVATE_KEY_NAME = "bundle.key"
PUBLIC_KEY_NAME = "bundle.pub"
REPO_SECRET_NAME = "apt-repo.secret.asc"  # noqa: S105 - a file name
REPO_PUBLIC_NAME = "apt-repo.pub.asc"
REPO_UID = "Mattermost deployer offline bundle repository"
# The OpenPGP key and every repository signature carry this fixed creation time, so that
# signing the same Release file twice gives the same bytes (Ed25519 itself is deterministic).
REPO_KEY_EPOCH = 1704067200  # 2024-01-01T00:00:00Z


@dataclass(frozen=True)
class KeyPaths:
    private: Path
    public: Path
    repo_secret: Path
    repo_public: Path

    @classmethod
    def in_dir(cls, folder: Path) -> KeyPaths:
        return cls(
            folder / PRIVATE_KEY_NAME,
            folder / PUBLIC_KEY_NAME,
            folder / REPO_SECRET_NAME,
            folder / REPO_PUBLIC_NAME,
        )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate(folder: Path, *, force: bool = False, with_repo_key: bool = True) -> KeyPaths:
    """Write a new signing key pair; refuses to overwrite one unless told to."""
    paths = KeyPaths.in_dir(folder)
    existing = [p for p in (paths.private, paths.repo_secret) if p.exists()]
    if existing and not force:
        raise BundleInputError(
            f"a bundle key already exists: {existing[0]}",
            hint="keep it (every host trusts it), or pass --force to replace it",
        )
    folder.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_secret(paths.private, pem)
    paths.public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    if with_repo_key:
        secret, public = generate_repo_key()
        _write_secret(paths.repo_secret, secret)
        paths.repo_public.write_bytes(public)
    return paths


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_repo_key() -> tuple[bytes, bytes]:
    """A passphrase-less Ed25519 OpenPGP key (armored secret, armored public) for Release files."""
    require("gpg", "gnupg")
    with tempfile.TemporaryDirectory(prefix="deployer-gpg-") as home:
        base = ["gpg", "--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback"]
        fake = ["--faked-system-time", f"{REPO_KEY_EPOCH}!"]
        run(
            [*base, *fake, "--passphrase", "", "--quick-gen-key", REPO_UID, "ed25519", "sign", "never"],
            what="gpg key generation",
        )
        secret = run(
            [*base, "--passphrase", "", "--armor", "--export-secret-keys", REPO_UID],
            what="gpg secret key export",
        ).stdout
        public = run([*base, "--armor", "--export", REPO_UID], what="gpg export").stdout
    return secret, public


def load_private(path: Path) -> Ed25519PrivateKey:
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise BundleInputError(
            f"{path} is not an unencrypted PEM private key",
            hint="pass the bundle.key written by 'deployer bundle keygen'",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleInputError(f"{path} is not an Ed25519 key", hint="run 'deployer bundle keygen'")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise BundleInputError(
            f"{path} is not a PEM public key",
            hint="pass the bundle.pub written by 'deployer bundle keygen'",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleInputError(f"{path} is not an Ed25519 public key", hint="pass bundle.pub")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleInputError(
            f"{what} not found: {path}", hint="run 'deployer bundle keygen -o DIR' first"
        ) from exc
    except OSError as exc:
        raise BundleInputError(f"cannot read {what} {path}: {exc.strerror}") from exc


def sign(private: Ed25519PrivateKey, data: bytes) -> bytes:
    """The manifest.sig content: base64 of the raw Ed25519 signature, one line."""
    return base64.b64encode(private.sign(data)) + b"\n"


def check_signature(public: Ed25519PublicKey, data: bytes, signature: bytes, claimed: str) -> None:
    """Raise unless `signature` over `data` was made by the trusted key."""
    trusted = key_id(public)
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        public.verify(raw, data)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        made_by = (
            f"; the manifest says it was signed by key {claimed}" if claimed and claimed != trusted else ""
        )
        raise BundleSignatureError(
            f"manifest signature does not verify against the trusted key {trusted}{made_by}",
            hint="the bundle was altered or signed by another key: do not use it; "
            "check that --pubkey (or bundle.public_key in the topology) is the key you trust",
        ) from exc


def import_repo_key(secret: bytes, home: Path) -> None:
    """Import the repository key into a throw-away GnuPG home used for one build."""
    require("gpg", "gnupg")
    run(
        [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--import",
        ],
        what="gpg import of the repository key",
        stdin=secret,
    )
