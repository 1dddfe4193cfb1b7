"""G1: Billed quantity covered only by metering-gap hours when the tariff does not bill them."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("G1", "billed_not_metered", "error")  # name: catalogue rule.G1
