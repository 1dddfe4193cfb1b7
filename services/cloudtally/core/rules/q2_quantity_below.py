"""Q2: Billed quantity below the metered quantity (under-billing)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("Q2", "quantity_below_metered", "warning")  # name: catalogue rule.Q2
