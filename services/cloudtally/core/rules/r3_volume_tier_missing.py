"""R3: A volume-tier reduction was not applied (per line or as the invoice's credit)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("R3", "discount_missing", "error")  # name: catalogue rule.R3
