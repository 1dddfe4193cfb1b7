"""第一资源池云服务单价下降 (2 points): the unit price falls ≥ 2 % a year → 2, 1–2 % → 1,
< 1 % → 0; no evidence counts as < 1 %.

"The unit price" of a pool is the price of a reference basket (``basket``: units of
each resource, default 1 vCPU + 2 GB memory + 100 GB standard storage) at the
effective price (list × tender discount, per unit-hour) of the tariff version in
force on the fiscal year's first day against the one in force on its last day. The
fall is (start − end) / start × 100, exact; a rise is a negative fall (0 points).
A resource the pool prices in only one of the two versions makes the basket
incomparable: no evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from pydantic import Field

from cloudtally.core.scorecard.base import IndicatorResult, cut, no_data, pct_text
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs, TariffPoint

KIND = "unit_price_trend"


class Params(_Params):
    basket: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "vcpu": Decimal(1),
            "memory": Decimal(2),
            "storage_standard": Decimal(100),
        }
    )
    # (fall at least %, points), highest first
    bands: tuple[tuple[Decimal, Decimal], ...] = (
        (Decimal(2), Decimal(2)), (Decimal(1), Decimal(1)), (Decimal("-1e9"), Decimal(0)),
    )  # fmt: skip


def basket_price(point: TariffPoint, basket: Mapping[str, Decimal]) -> Fraction | None:
    """CNY per hour of the basket under one version, exact (a monthly price ÷ 720 is not a
    finite decimal); None if a resource is unpriced."""
    total = Fraction(0)
    for resource, qty in basket.items():
        price = point.prices.get(resource)
        if price is None:
            return None
        total += Fraction(price) * Fraction(qty)
    return total


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    lowest = min(p for _, p in params.bands)
    start, end = inputs.tariff_start, inputs.tariff_end
    if start is None or end is None:
        return no_data(
            lowest, "no tariff version in force at the fiscal year's start or end", "no_tariff"
        )
    p0, p1 = basket_price(start, params.basket), basket_price(end, params.basket)
    if p0 is None or p1 is None or p0 <= 0:
        return no_data(
            lowest,
            "the pool does not price every basket resource in both versions",
            "basket_unpriced",
        )
    exact = (p0 - p1) / p0 * 100
    fall = Decimal(exact.numerator) / Decimal(exact.denominator)  # display; banded exactly
    points = next((p for at_least, p in params.bands if exact >= Fraction(at_least)), lowest)
    evidence = tuple(
        {
            "version": t.version, "effective_from": t.effective_from.isoformat(),
            "basket": {k: str(v) for k, v in params.basket.items()},
            "basket_price_hour": str(Decimal(p.numerator) / Decimal(p.denominator)), "on": on,
        }
        for t, p, on in ((start, p0, "fiscal_year_start"), (end, p1, "fiscal_year_end"))
    )  # fmt: skip
    text = f"{start.version} → {end.version}：下降 {pct_text(fall)}"
    text_id = "price_fall"
    if start.version == end.version:
        text, text_id = f"{start.version} 全年未调价：下降 0%", "price_unchanged"
    figures = {"start": start.version, "end": end.version, "pct": pct_text(fall)}
    return IndicatorResult("measured", cut(points), fall, text, evidence, text_id=text_id,
                           params=figures)  # fmt: skip
