"""X1: The amount differs from the contract rating and no single missing adjustment explains it."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("X1", "amount_differs", "error")  # name: catalogue rule.X1
