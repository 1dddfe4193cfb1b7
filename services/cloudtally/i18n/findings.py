"""A verification finding in words, rendered at read time from its language-neutral form.

A finding is stored as its rule id, a message id (``Q1``, ``A1.contracted``: the rule's
variant) and its evidence (the figures it rests on, as exact text). The sentence is made
here, in the reader's language, from the catalogue's ``finding.<message id>`` template
filled with the evidence and the finding's own columns — so a run verified before this
existed, or in another language, reads in either. Numbers keep their digits: amounts
show the fen they were computed to, quantities as computed; only units, resource types,
adjustment names and list separators are translated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from cloudtally.i18n import gettext, translate
from cloudtally.i18n.numbers import unit as unit_text

# Evidence keys that are money: shown with two decimals (the fen), digits unchanged.
MONEY_KEYS = frozenset(
    {
        "amount",
        "billed_amount",
        "expected_amount",
        "consistent_amount",
        "contracted_amount",
        "quantity_x_contracted_unit_price",
        "quantity_x_unit_price",
        "list_amount",
        "expected_credit",
        "billed_credit",
        "billed_gross",
    }
)
_NEGATED = frozenset({"expected_credit", "billed_credit"})  # credits are told as reductions
_CENT = Decimal("0.01")
_TIME_SUFFIXES = ("_start", "_end", "_at")
SH = ZoneInfo("Asia/Shanghai")


def local_time(iso: str) -> str:
    """An instant of the evidence (ISO 8601 UTC, exact) as the readers' clock shows it:
    Beijing time, ``2024-01-16 10:20`` (seconds only when there are any)."""
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(SH)
    except ValueError:
        return iso
    return t.strftime("%Y-%m-%d %H:%M" + (":%S" if t.second else ""))


def message_id(rule_id: str, stored: str, evidence: Mapping[str, Any]) -> str:
    """The template of a finding: the stored id, or for a finding stored before ids were
    (an old run), the one its rule and evidence imply."""
    if stored:
        return stored
    if rule_id == "B2" and "metered_quantity" not in evidence:
        return "B2.before"
    if rule_id == "R3" and "expected_credit" in evidence:
        return "R3.credit"
    return rule_id


def _money(text: str, negate: bool) -> str:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return text
    if negate:
        d = -d
    if d == d.quantize(_CENT):
        d = d.quantize(_CENT)
    return format(d, "f")


def _list(text: str, lang: str, prefix: str = "") -> str:
    sep = gettext("list.sep", lang)
    items = [i for i in text.split(",") if i]
    if prefix:
        items = [_term(prefix, i, lang) for i in items]
    return sep.join(items)


def _term(prefix: str, value: str, lang: str) -> str:
    key = f"{prefix}.{value}"
    text = gettext(key, lang)
    return value if text == key else text


def params(
    evidence: Mapping[str, Any], lang: str, resource_id: str = "", resource_type: str = ""
) -> dict[str, str]:
    """The template's values: the finding's columns, then its evidence, each dressed for
    ``lang`` (units, resource and adjustment names translated, money at the fen)."""
    out: dict[str, str] = {"resource_id": resource_id, "resource_type": resource_type}
    for k, v in evidence.items():
        out[k] = "" if v is None else str(v)
    for k in MONEY_KEYS & out.keys():
        out[k] = _money(out[k], k in _NEGATED)
    for k, v in out.items():
        if v.endswith("Z") and k.endswith(_TIME_SUFFIXES):
            out[k] = local_time(v)
    if out.get("unit"):
        out["unit"] = unit_text(out["unit"], lang)
    out["resource_type"] = _term("resource", out.get("resource_type", ""), lang)
    if "missing_adjustment" in out:
        out["missing_adjustment"] = _term("adjustment", out["missing_adjustment"], lang)
    if "charge_category" in out:
        out["charge_category"] = _term("charge", out["charge_category"], lang)
    for k, prefix in (
        ("kinds", "adjustment"),
        ("sources", ""),
        ("metered_owner", ""),
        ("billed_unit_price", ""),
    ):
        if k in out:
            out[k] = _list(out[k], lang, prefix)
    return out


def render(
    rule_id: str,
    evidence: Mapping[str, Any],
    lang: str,
    *,
    stored_id: str = "",
    resource_id: str = "",
    resource_type: str = "",
) -> str:
    """The finding's sentence in ``lang`` ('zh' or 'en')."""
    mid = message_id(rule_id, stored_id, evidence)
    return translate(lang)(f"finding.{mid}", **params(evidence, lang, resource_id, resource_type))


def render_row(row: Mapping[str, Any], lang: str) -> str:
    """:func:`render` of a stored finding row (``rule_id``, ``message_id``, ``evidence``…)."""
    ev = row.get("evidence") or {}
    return render(
        str(row["rule_id"]),
        ev if isinstance(ev, Mapping) else {},
        lang,
        stored_id=str(row.get("message_id") or ""),
        resource_id=str(row.get("resource_id") or ""),
        resource_type=str(row.get("resource_type") or ""),
    )


def rule_label(rule_id: str, lang: str) -> str:
    """The rule's name in ``lang`` (``rule.Q1``)."""
    return gettext(f"rule.{rule_id}", lang)
