"""P1: A charge for a period outside the invoice's billing period belongs to another invoice."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("P1", "wrong_period", "error")  # name: catalogue rule.P1
