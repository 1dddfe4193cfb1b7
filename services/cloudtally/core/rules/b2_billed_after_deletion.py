"""B2: Billed for time after the VM was deleted."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("B2", "billed_not_metered", "error")  # name: catalogue rule.B2
