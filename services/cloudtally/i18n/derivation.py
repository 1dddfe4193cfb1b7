"""A bill line's arithmetic in one sentence, in the reader's language.

Bill lines store their adjustments as data (rule, factor, threshold, basis: the
language-neutral form), so the sentence is made at read time from the catalogue's
``derivation.*`` templates; the digits are the line's own (quantities as computed, money
at the fen), whatever the language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtally.i18n import translate
from cloudtally.i18n.numbers import plain
from cloudtally.i18n.numbers import unit as unit_text


def _term(_: Any, prefix: str, value: str) -> str:
    key = f"{prefix}.{value}"
    text = str(_(key))
    return value if text == key else text


def explain(line: Mapping[str, Any], lang: str) -> str:
    """``192 vCPU-hour × 30 / 720 = 8.00 list; × 0.55 tender discount = 4.40`` /
    ``192 核·时 × 30 / 720 = 8.00 元（目录价）；× 0.55 中标折扣 = 4.40 元``."""
    _ = translate(lang)
    rules = {r["rule"]: r for r in line["adjustments"]}
    price, divisor = plain(line["unit_price"]), line["price_divisor"]
    parts = [
        _(
            "derivation.list",
            quantity=plain(line["quantity"]),
            unit=unit_text(str(line["unit"]), lang),
            price=price if divisor == 1 else f"{price} / {divisor}",
            list_amount=line["list_amount"],
        )
    ]
    if "tender_discount" in rules:
        parts.append(
            _(
                "derivation.tender_discount",
                pay=rules["tender_discount"]["pay"],
                after_discount=line["after_discount"],
            )
        )
    if "low_utilization" in rules:
        c = rules["low_utilization"]
        basis = line["utilization_basis"]
        parts.append(
            _(
                "derivation.low_utilization",
                figure="" if basis is None else f"{round(float(basis), 2)} % ",
                threshold_pct=c["threshold_pct"],
                basis=_term(_, "basis", str(c["basis"])),
                period=_term(_, "period", str(c["period"])),
                cut=c["cut"],
                after_cut=line["after_cut"],
            )
        )
    if line.get("month_provisional"):
        parts.append(_("derivation.month_provisional"))
    if line.get("calendar_provisional"):
        parts.append(_("derivation.calendar_provisional"))
    return _("derivation.sep").join(parts)
