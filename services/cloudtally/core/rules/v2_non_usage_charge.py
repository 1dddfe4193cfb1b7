"""V2: A non-usage charge (tax, credit, correction): shown apart, never counted as over-billing."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("V2", "unverifiable", "warning")  # name: catalogue rule.V2
