"""U1: Unit price differs from the catalog price (compared in the catalog's unit)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("U1", "unit_price_differs", "error")  # name: catalogue rule.U1
