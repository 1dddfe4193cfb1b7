"""G2: Metering-gap hours billed on allocation, as the policy allows (informational)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("G2", "metering_gap", "info")  # name: catalogue rule.G2
