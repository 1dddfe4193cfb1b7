"""Savings of a rightsizing candidate: one definition for the API, alerts and gauges.

A freed vCPU (or GB of memory) saves what billing would have charged for it
over a year: 365 days × 24 h = 8760 hours at the hourly-equivalent catalog price
— a monthly price becomes hourly by ÷ the version's ``hours_per_month``, exactly
as rating does — times the tender discount (the pool's override, else the
provider's). The low-utilization cut and volume tiers are left out (a downsized
VM is no longer under-utilized; tiers depend on the whole month's volume).

So with ``hours_per_month: 720`` a monthly price of 30 saves 30 × 8760 / 720 =
365 per year of list price, not 30 × 12 = 360: the savings are what stops
being billed, in billing's own arithmetic.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from cloudtally.core.idle import UnitPrices
from cloudtally.core.policy import Version

HOURS_PER_YEAR = 8760


def annual_unit_price(
    price: Decimal, per: Literal["hour", "month"], hours_per_month: int, tender: Decimal
) -> Decimal:
    """Yearly amount paid for one unit at a stated catalog price (exact Decimal)."""
    hours = 1 if per == "hour" else hours_per_month
    return price * HOURS_PER_YEAR / hours * tender


def annual_prices(version: Version) -> dict[tuple[str, str], UnitPrices]:
    """Per (provider, pool) of a tariff version: yearly price of a vCPU and a GB of memory.

    A pool without a vCPU or memory price is absent (its savings are unknown, not 0).
    """
    out: dict[tuple[str, str], UnitPrices] = {}
    for prov in version.providers:
        for pool in prov.pools:
            tender = pool.tender_discount if pool.tender_discount is not None else (
                prov.tender_discount
            )  # fmt: skip
            vcpu, mem = pool.prices.price("vcpu"), pool.prices.price("memory")
            if vcpu is None or mem is None:
                continue
            out[(prov.id, pool.id)] = UnitPrices(
                vcpu_year=annual_unit_price(*vcpu, version.hours_per_month, tender),
                mem_gb_year=annual_unit_price(*mem, version.hours_per_month, tender),
            )
    return out
