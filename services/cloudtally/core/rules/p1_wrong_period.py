"""P1: A charge for a period outside the invoice's billing period belongs to another invoice."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule(
    "P1",
    "wrong_period",
    "error",
    "charge period outside the billing period",
    "计费周期不在账单周期内",
)
