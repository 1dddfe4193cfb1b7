"""S1: The invoice omits (or shortens) an SLA credit the contract makes due: a pool's
metered availability in the month fell below a credit step (docs/availability.md)."""

from __future__ import annotations

from cloudtally.core.invoice import InvoiceLine
from cloudtally.core.rules.base import Rule

RULE = Rule("S1", "sla_credit_missing", "error")  # name: catalogue rule.S1

KINDS = ("sla_credit",)
# How providers label an SLA credit line (any of these in its type, name, SKU or class).
_WORDS = ("sla", "可用", "服务水平", "服务等级", "赔付", "赔偿", "违约", "availability")


def is_sla_line(ln: InvoiceLine) -> bool:
    text = " ".join(
        (ln.resource_type_raw, ln.resource_name, ln.sku, ln.charge_class, ln.resource_id)
    ).lower()
    return any(w in text for w in _WORDS)
