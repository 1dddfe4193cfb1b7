"""B1: An id inventory does not know, whatever its type: billed but never metered."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("B1", "billed_not_metered", "error")  # name: catalogue rule.B1
