"""Time bases of invoice quantities and prices: hour, day or month (no I/O).

A provider bills a vCPU in core-hours (核·时) at an hourly price, or in
core-months (核·月) at a monthly one; storage in GB·月 or GB·时. The money is
the same; only the time basis of the quantity and of the price differ. A
basis is read from the mapping's declaration or the line's unit text, and
quantities and prices are converted between bases by exact ratios of hours:
an hour is 1 h, a day 24 h, a month the contract's ``hours_per_month`` (the
month the catalog's monthly prices are divided by), so a 核·月 on the invoice
is the same month the contract rates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, localcontext

BASES: tuple[str, ...] = ("hour", "day", "month")

# A unit text's last segment (after ·, -, *, /, ×, spaces) → basis.
_SEGMENTS: dict[str, str] = {
    **dict.fromkeys(["h", "hr", "hrs", "hour", "hours", "时", "小时", "時", "小時"], "hour"),
    **dict.fromkeys(["d", "day", "days", "天", "日"], "day"),
    **dict.fromkeys(["mo", "mon", "month", "months", "月", "个月", "個月"], "month"),
}
# Chinese units are often written without a separator: 核时, GB月, 元/核天.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("小时", "hour"),
    ("小時", "hour"),
    ("个月", "month"),
    ("個月", "month"),
    ("时", "hour"),
    ("時", "hour"),
    ("天", "day"),
    ("日", "day"),
    ("月", "month"),
)
_SPLIT = re.compile(r"[·•‧∙・\-*/×x_\s]+")


def basis_of(text: str, aliases: Mapping[str, str] | None = None) -> str:
    """The time basis a unit text names ('核·时' → hour, 'GB·月' → month); '' if none."""
    s = unicodedata.normalize("NFKC", text).strip().casefold()
    if not s:
        return ""
    if aliases:
        hit = aliases.get(s)
        if hit:
            return hit
    s = s.rstrip(")）]").strip()
    last = _SPLIT.split(s)[-1]
    hit = _SEGMENTS.get(last)
    if hit:
        return hit
    for suffix, basis in _SUFFIXES:
        if s.endswith(suffix):
            return basis
    return ""


def hours_of(basis: str, month_hours: Decimal) -> Decimal:
    """Hours in one unit of ``basis``; a month is the contract's month."""
    if basis == "hour":
        return Decimal(1)
    if basis == "day":
        return Decimal(24)
    if basis == "month":
        return month_hours
    raise ValueError(f"unknown time basis {basis!r}")


def rescale(value: Decimal, num: Decimal, den: Decimal) -> Decimal:
    """``value × num / den`` with 50 significant digits (ratios of hours like 1/720 do not
    terminate in decimal; 50 digits is exact far below a fen on any invoice)."""
    if num == den:
        return value
    with localcontext() as ctx:
        ctx.prec = 50
        return value * num / den


def label(basis: str, resource_type: str, *, zh: bool = True) -> str:
    """A unit label for a basis: 核·时, GB·月, vCPU-hour, GB-month."""
    if zh:
        measure = "核" if resource_type == "vcpu" else "GB"
        return f"{measure}·" + {"hour": "时", "day": "天", "month": "月"}.get(basis, basis)
    measure = "vCPU" if resource_type == "vcpu" else "GB"
    return f"{measure}-{basis}"
