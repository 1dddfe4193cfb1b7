"""Numbers in messages: the digits exactly as computed, dressed the way each language
reads them. Money keeps its two decimals (the fen the bill was rounded to, never
re-rounded); quantities keep every digit the computation gave; Chinese shows 元 and
万元 (a summary figure, with the exact 元 beside it), units as 核·时 / GB·月.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from cloudtally.i18n import gettext

_CENT = Decimal("0.01")


def _dec(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        try:
            return Decimal(str(value).replace(",", "").strip())
        except InvalidOperation:
            return None
    return None


def plain(value: object) -> str:
    """A quantity as computed: no exponent, no trailing zeros of an integer (1536, 32.5)."""
    d = _dec(value)
    if d is None:
        return "" if value is None else str(value)
    if d == d.to_integral():
        return format(d.quantize(Decimal(1)), "f")
    return format(d.normalize(), "f")


def money(value: object, lang: str, *, unit: bool = True) -> str:
    """``1234.5`` → '1,234.50 元' (zh) / '1,234.50 CNY' (en). An amount already at the fen
    is shown as it is; one with more decimals (a unit price) keeps them."""
    d = _dec(value)
    if d is None:
        return "" if value is None else str(value)
    text = f"{d:,.2f}" if d == d.quantize(_CENT) else f"{d:,f}"
    if not unit:
        return text
    return f"{text} {gettext('unit.yuan', lang)}"


def wan(value: object, lang: str) -> str:
    """A summary amount in 万元 as the seed documents write it (13283.30万元), with the
    exact 元 after it; English gets the exact CNY only."""
    d = _dec(value)
    if d is None:
        return "" if value is None else str(value)
    exact = money(d, lang)
    if lang != "zh" or abs(d) < 10_000:
        return exact
    w = (d / 10_000).quantize(_CENT)
    return f"{w:.2f}万元（{exact}）"


def unit(text: str, lang: str) -> str:
    """A catalog unit ('vCPU-hour', 'GB-month') in the reader's language (核·时, GB·月);
    a provider's own unit text (already 核时 or anything else) is shown as written."""
    key = f"unit.{text}"
    shown = gettext(key, lang)
    return text if shown == key else shown


def percent(value: object) -> str:
    d = _dec(value)
    return plain(d) + " %" if d is not None else ""
