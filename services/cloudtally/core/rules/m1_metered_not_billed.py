"""M1: Metered and rated by cloudtally but not on the invoice."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("M1", "metered_not_billed", "warning")  # name: catalogue rule.M1
