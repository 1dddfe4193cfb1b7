"""Tariff terms resolved from a policy: one exact price term per version, pool and resource.

A bill line's amounts are exact rationals of integers until they are rounded:
quantities are integer 1e-7 unit-hours, prices integer micro-CNY, ratios
integer 1e-4. This module turns the policy into those integers so the rating
core can work on numpy int64 arrays and still agree with Decimal to the fen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from cloudtally.core.policy import (
    BILLED_RESOURCES,
    UNITS,
    LowUtilization,
    Policy,
    Version,
)

Q_SCALE = 10**7  # quantities: integer 1e-7 unit-hours
PRICE_SCALE = 10**6  # prices: integer micro-CNY
RATIO_SCALE = 10**4  # tender discount and cuts: integer 1e-4
ONE = Decimal(1)


def to_scaled(value: Decimal, scale: int) -> int:
    """Exact integer of ``value × scale``; refuse anything that does not fit the scale."""
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more precision than 1/{scale}")
    return int(scaled)


@dataclass(frozen=True)
class PriceTerm:
    """How one resource of one pool is priced under one tariff version."""

    term_id: int
    version_index: int
    version: str
    provider: str
    pool: str
    resource: str
    unit: str
    unit_price: Decimal  # as stated in the catalog
    divisor: int  # 1 for hourly prices, hours_per_month for monthly ones
    tender: Decimal  # fraction of list paid
    cut_clause: LowUtilization | None  # applies to this resource when present and enabled

    @property
    def price_micro(self) -> int:
        return to_scaled(self.unit_price, PRICE_SCALE)

    @property
    def tender_e4(self) -> int:
        return to_scaled(self.tender, RATIO_SCALE)

    @property
    def keep_e4(self) -> int:
        """Fraction of the discounted price kept when the low-utilization cut applies (1e-4)."""
        assert self.cut_clause is not None
        return RATIO_SCALE - to_scaled(self.cut_clause.price_cut, RATIO_SCALE)

    def adjustments(self, cut_applied: bool) -> str:
        """The machine-readable list of rules applied to a line priced by this term."""
        rules: list[dict[str, object]] = [
            {
                "rule": "catalog",
                "price": str(self.unit_price),
                "per": "hour" if self.divisor == 1 else "month",
                "divisor": self.divisor,
            },
            {"rule": "tender_discount", "pay": str(self.tender)},
        ]
        if cut_applied and self.cut_clause is not None:
            c = self.cut_clause
            rules.append(
                {
                    "rule": "low_utilization",
                    "cut": str(c.price_cut),
                    "basis": c.basis,
                    "metric": c.metric,
                    "period": c.period,
                    "threshold_pct": str(c.threshold_pct),
                }
            )
        return json.dumps(rules, separators=(",", ":"))


def cut_clause(version: Version, provider_id: str) -> LowUtilization | None:
    """The low-utilization clause in force for a provider (provider override wins)."""
    prov = version.provider(provider_id)
    clause = prov.low_utilization if prov and prov.low_utilization else version.low_utilization
    return clause if clause is not None and clause.enabled else None


class TariffTable:
    """Every (version, provider, pool, resource) price term of a policy, numbered."""

    def __init__(self, policy: Policy, resources: tuple[str, ...] = BILLED_RESOURCES) -> None:
        self.policy = policy
        self.resources = resources
        self.terms: list[PriceTerm] = []
        self._index: dict[tuple[int, str, str, str], int] = {}
        for vi, version in enumerate(policy.versions):
            for prov in version.providers:
                clause = cut_clause(version, prov.id)
                for pool in prov.pools:
                    tender = (
                        pool.tender_discount
                        if pool.tender_discount is not None
                        else prov.tender_discount
                    )
                    for res in resources:
                        stated = pool.prices.price(res)
                        if stated is None:
                            continue
                        price, per = stated
                        term = PriceTerm(
                            term_id=len(self.terms),
                            version_index=vi,
                            version=version.version,
                            provider=prov.id,
                            pool=pool.id,
                            resource=res,
                            unit=UNITS[res],
                            unit_price=price,
                            divisor=1 if per == "hour" else version.hours_per_month,
                            tender=tender,
                            cut_clause=clause if clause and res in clause.applies_to else None,
                        )
                        self._index[(vi, prov.id, pool.id, res)] = term.term_id
                        self.terms.append(term)

    def term_id(self, version_index: int, provider: str, pool: str, resource: str) -> int:
        """Term number, or -1 when the pool has no price for it in that version."""
        return self._index.get((version_index, provider, pool, resource), -1)
