"""B1: An id inventory does not know, whatever its type: billed but never metered."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule(
    "B1",
    "billed_not_metered",
    "error",
    "billed but not metered: resource not in inventory",
    "未知资源计费（无计量）",
)
