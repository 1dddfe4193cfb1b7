"""B3: A known VM billed for a resource it has no metered allocation of in the period."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("B3", "billed_not_metered", "error")  # name: catalogue rule.B3
