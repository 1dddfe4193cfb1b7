"""Who may see what: roles and bureau scope, independent of HTTP.

admin (the buyer) and auditor read everything; a bureau principal sees only
its own bureau's VMs, bills and findings. Only admin may change data.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "auditor", "bureau"]


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    bureau: str | None = None

    def __post_init__(self) -> None:
        if self.role == "bureau" and not self.bureau:
            raise ValueError(f"principal {self.name!r}: role bureau needs a bureau")

    @property
    def scope(self) -> str | None:
        """The bureau every query must be restricted to, or None for all bureaus."""
        return self.bureau if self.role == "bureau" else None

    @property
    def can_read_all(self) -> bool:
        return self.role in ("admin", "auditor")

    @property
    def can_write(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TokenEntry:
    sha256: str
    principal: Principal


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(token: str, entries: Iterable[TokenEntry]) -> Principal | None:
    """Constant-time match of a presented token against the stored hashes."""
    digest = hash_token(token)
    found = None
    for entry in entries:
        if hmac.compare_digest(digest, entry.sha256):
            found = entry.principal
    return found
