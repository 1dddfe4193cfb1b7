"""Verification rules, one module per rule (ruff-style): each module's ``RULE`` is its
code, kind and severity (its name is the catalogue's ``rule.<code>``), and a rule whose
check stands alone keeps it beside its definition (:mod:`a1_arithmetic`,
:mod:`o1_wrong_bureau`). ``RULES`` is the registry in report order (the order findings
of one line are listed in). The verification pass (:mod:`cloudtally.core.verification`)
applies them; docs/invoices.md states each one.
"""

from __future__ import annotations

from cloudtally.core.rules import (
    a1_arithmetic,
    b1_unknown_resource,
    b2_billed_after_deletion,
    b3_no_metered_allocation,
    c1_capacity_not_present,
    d1_duplicate_line,
    g1_billed_in_gap,
    g2_gap_on_allocation,
    m1_metered_not_billed,
    o1_wrong_bureau,
    p1_wrong_period,
    q1_quantity_above,
    q2_quantity_below,
    r1_tender_discount_missing,
    r2_low_utilization_cut_missing,
    r3_volume_tier_missing,
    s1_sla_credit_missing,
    u1_unit_price,
    v1_unmetered_type,
    v2_non_usage_charge,
    x1_amount_differs,
)
from cloudtally.core.rules.base import Rule

RULES: dict[str, Rule] = {
    m.RULE.rule_id: m.RULE
    for m in (
        p1_wrong_period,
        d1_duplicate_line,
        a1_arithmetic,
        b1_unknown_resource,
        b2_billed_after_deletion,
        b3_no_metered_allocation,
        g1_billed_in_gap,
        q1_quantity_above,
        q2_quantity_below,
        u1_unit_price,
        r1_tender_discount_missing,
        r2_low_utilization_cut_missing,
        r3_volume_tier_missing,
        s1_sla_credit_missing,
        x1_amount_differs,
        m1_metered_not_billed,
        v1_unmetered_type,
        v2_non_usage_charge,
        g2_gap_on_allocation,
        o1_wrong_bureau,
        c1_capacity_not_present,  # found by .allocation (observed vs allocated)
    )
}
RULE_ORDER = {rid: i for i, rid in enumerate(RULES)}

__all__ = ["RULES", "RULE_ORDER", "Rule"]
