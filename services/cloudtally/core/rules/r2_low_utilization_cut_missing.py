"""R2: The contract's low-utilization price cut was not applied."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("R2", "discount_missing", "error")  # name: catalogue rule.R2
