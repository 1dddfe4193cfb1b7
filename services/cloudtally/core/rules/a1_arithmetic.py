"""A1: The line's own figures disagree: quantity × unit price, list × discount, or quantity ×
contracted unit price ≠ contracted cost. One finding per line with the arithmetic error
at stake; the line is then checked on the amount its figures give."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from cloudtally.core.invoice import InvoiceLine, money
from cloudtally.core.rules.base import Rule

ZERO = Decimal(0)
MoneyOk = Callable[[Decimal, Decimal], bool]  # (difference, reference) within tolerance

RULE = Rule("A1", "arithmetic_error", "error")  # name: catalogue rule.A1


def check(
    ln: InvoiceLine, money_ok: MoneyOk
) -> tuple[Decimal, tuple[dict[str, object], str] | None]:
    """The amount the line's own figures give, and (evidence, message id) when it is not what
    the line bills. ``ln`` is in catalog units.

    With contracted figures (FOCUS ContractedUnitPrice / ContractedCost) the contracted
    side is the line's own rating: a contracted cost that is not quantity × contracted
    price is one A1 with that difference at stake, and the rest of the line is checked on
    the corrected amount (no second finding for the same fen).
    """
    b = ln.amount
    ok = money_ok
    wrong = False
    consistent = b
    gross = c = ZERO
    if ln.unit_price is not None:
        gross = money(ln.quantity * ln.unit_price)
        if ln.list_amount is not None:
            if not ok(ln.list_amount - gross, gross):
                wrong = True
            if ln.discount_rate is not None:
                consistent = money(gross * ln.discount_rate)
                if not ok(b - money(ln.list_amount * ln.discount_rate), b):
                    wrong = True
            elif ln.list_amount != 0:
                consistent = money(gross * b / ln.list_amount)
        elif ln.discount_rate is not None:
            consistent = money(gross * ln.discount_rate)
            if not ok(b - consistent, b):
                wrong = True
    contracted_wrong = False
    if ln.contracted_unit_price is not None and ln.contracted_amount is not None:
        c = money(ln.quantity * ln.contracted_unit_price)
        if not ok(ln.contracted_amount - c, c):
            contracted_wrong = True
            if not wrong:  # the list side agrees (or is absent): the contracted error
                consistent = b - (ln.contracted_amount - c)
    if not wrong and not contracted_wrong:
        return b, None
    # Evidence only for the lines that disagree (the common case builds none).
    ev: dict[str, object] = {"quantity": ln.quantity, "amount": b}
    if ln.unit_price is not None:
        ev["unit_price"] = ln.unit_price
        ev["quantity_x_unit_price"] = gross
        if ln.list_amount is not None:
            ev["list_amount"] = ln.list_amount
        if ln.discount_rate is not None:
            ev["discount_rate"] = ln.discount_rate
    if ln.contracted_unit_price is not None and ln.contracted_amount is not None:
        ev["contracted_unit_price"] = ln.contracted_unit_price
        ev["contracted_amount"] = ln.contracted_amount
        ev["quantity_x_contracted_unit_price"] = c
    ev["consistent_amount"] = consistent
    # the sentence (catalogue finding.A1 / finding.A1.contracted) is made from the evidence
    return consistent, (ev, "A1.contracted" if contracted_wrong and not wrong else "A1")
