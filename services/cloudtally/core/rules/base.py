"""A verification rule's identity: code, kind, severity (no I/O). Its name, in every
language, is the catalogue's ``rule.<code>`` (cloudtally.i18n)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    rule_id: str
    kind: str
    severity: str  # error | warning | info

    @property
    def counted(self) -> str:
        """Which total the stake goes to: over/under, 'unverified', or '' (not money)."""
        if self.kind == "unverifiable":
            return "unverified"
        if self.severity == "info" or self.kind == "wrong_bureau":
            return ""
        return "over_under"
