"""R1: The contract's tender discount was not applied."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("R1", "discount_missing", "error")  # name: catalogue rule.R1
