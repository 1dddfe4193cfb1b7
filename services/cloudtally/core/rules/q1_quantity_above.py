"""Q1: Billed quantity above the metered quantity (in the invoice's unit)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("Q1", "quantity_above_metered", "error")  # name: catalogue rule.Q1
