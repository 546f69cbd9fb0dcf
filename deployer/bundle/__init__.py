"""The offline bundle: one signed, reproducible file with everything an environment needs."""

from __future__ import annotations

from deployer.bundle.errors import BundleError, BundleSignatureError, BundleVerificationError
from deployer.bundle.manifest import FileEntry, Kind, Manifest
from deployer.bundle.verify import verify_bundle, verify_environment_bundle, verify_tree

__all__ = [
    "BundleError",
    "BundleSignatureError",
    "BundleVerificationError",
    "FileEntry",
    "Kind",
    "Manifest",
    "verify_bundle",
    "verify_environment_bundle",
    "verify_tree",
]
