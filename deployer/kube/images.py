"""Image references: parsing, digest pinning and relocation to the site's registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
# registry host: has a dot or a port, or is localhost (Docker's rule for the first path part).
_REF_RE = re.compile(
    r"^(?P<name>[a-z0-9.:_/-]+?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


class ImageReferenceError(ValueError):
    """A string that is not an image reference."""


@dataclass(frozen=True, order=True)
class ImageRef:
    """registry/repository:tag@digest, each part known separately."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        match = _REF_RE.match(text.strip())
        if not match:
            raise ImageReferenceError(f"'{text}' is not an image reference")
        name = match["name"]
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = "", name
        if not repository or repository.endswith("/"):
            raise ImageReferenceError(f"'{text}' names no repository")
        return cls(registry, repository, match["tag"], match["digest"])

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def relocated(self, registry: str) -> ImageRef:
        """The same image in `registry`: repository path, tag and digest are kept."""
        return ImageRef(registry.rstrip("/"), self.repository, self.tag, self.digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
