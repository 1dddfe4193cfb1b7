"""What ``hours_per_month`` makes a year of a monthly price cost (docs/billing.md).

A monthly catalog price is billed per hour as price ÷ hours_per_month. One vCPU
at 30 CNY a month (pool-1 list price) for a whole year:

| year            | hours | 720 (30 days) | 730 (365 × 24 / 12) | calendar-month proration |
|-----------------|-------|---------------|---------------------|--------------------------|
| 2023 (365 days) | 8760  | 365.00 (12.17 months) | 360.00 (12 months) | 360.00 |
| 2024 (366 days) | 8784  | 366.00 (12.2 months)  | 360.99             | 360.00 |

Calendar-month proration (each month's hours ÷ that month's hours × the
monthly price) always bills exactly 12 months; cloudtally does not offer it
(a term's divisor is fixed per tariff version) — 730 is the closest setting.
"""

from __future__ import annotations

import calendar
from decimal import ROUND_HALF_UP, Decimal

import pytest

from cloudtally.core.policy import load_policy
from cloudtally.core.rating import reference_amounts
from cloudtally.core.tariff import Q_SCALE, TariffTable
from cloudtally.policy import example_policy_text

CENT = Decimal("0.01")


def year_list_amount(hours_per_month: int, hours: int) -> Decimal:
    text = example_policy_text().replace(
        "hours_per_month: 720", f"hours_per_month: {hours_per_month}"
    )
    table = TariffTable(load_policy(text))
    term = table.terms[table.term_id(0, "provider-a", "pool-1", "vcpu")]
    assert term.divisor == hours_per_month
    return reference_amounts(hours * Q_SCALE, term, cut=False)[0]


def calendar_month_proration(year: int, monthly: Decimal) -> Decimal:
    total = Decimal(0)
    for month in range(1, 13):
        h = calendar.monthrange(year, month)[1] * 24
        total += monthly * h / h
    return total.quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.mark.parametrize(
    ("year", "hours", "h720", "h730"),
    [(2023, 8760, "365.00", "360.00"), (2024, 8784, "366.00", "360.99")],
)
def test_a_year_of_a_monthly_price(year: int, hours: int, h720: str, h730: str) -> None:
    assert year_list_amount(720, hours) == Decimal(h720)
    assert year_list_amount(730, hours) == Decimal(h730)
    assert calendar_month_proration(year, Decimal(30)) == Decimal("360.00")
    # 720 bills 12.17 months of a 365-day year: the figure docs/billing.md warns about
    assert (Decimal(h720) / 30).quantize(CENT) == (Decimal(hours) / 720).quantize(CENT)
