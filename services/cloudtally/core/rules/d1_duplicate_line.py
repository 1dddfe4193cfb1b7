"""D1: The same resource and period billed on two lines (overlapping periods)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("D1", "duplicate_line", "error")  # name: catalogue rule.D1
