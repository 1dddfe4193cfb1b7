"""Month-close adjustments and budget arithmetic (pure; Decimal / Fraction).

Volume tiers (contract 9.4–9.7) apply to a provider's month as a whole, so
they are computed from the month's rated lines and shown as their own
statement line (negative amount), provisional while the month is open and
final once it is closed. The tier rules of the version in force on the
month's last day apply to the whole month.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from cloudtally.core.policy import Policy, VolumeTiers

CENT = Decimal("0.01")


def round_fen(x: Fraction | Decimal) -> Decimal:
    """ROUND_HALF_UP to 0.01 CNY (ties away from zero), exact for Fractions."""
    f = Fraction(x)
    sign = -1 if f < 0 else 1
    fen = (abs(f) * 100 * 2 + 1) // 2
    return (Decimal(sign * int(fen)) / 100).quantize(CENT)


@dataclass(frozen=True)
class VolumeAdjustment:
    provider: str
    month: dt.date  # first day of the month
    tariff_version: str
    basis: str
    mode: str
    basis_value: Decimal
    fee: Decimal  # the month's fee after line-level adjustments
    amount: Decimal  # the adjustment (≤ 0)
    tier_reached: int  # index of the highest tier reached, -1 if none
    details: str  # JSON: slices and ratios

    @property
    def fee_after(self) -> Decimal:
        return self.fee + self.amount


def volume_adjustment(
    tiers: VolumeTiers,
    *,
    provider: str,
    month: dt.date,
    tariff_version: str,
    fee: Decimal,
    vcpu_hours: Decimal,
    hours_in_month: int,
) -> VolumeAdjustment:
    """The provider's volume-tier cut for one month (``amount`` ≤ 0).

    ``whole``: the whole fee × the ratio of the highest tier whose boundary the
    basis exceeds. ``graduated``: each slice of the basis above a boundary (up
    to the next) at that tier's ratio; for the ``vcpu`` basis a slice's fee is
    the fee × slice / total vCPUs. Computed exactly, rounded once.
    """
    value = Fraction(fee) if tiers.basis == "amount" else Fraction(vcpu_hours) / hours_in_month
    reached = -1
    for i, t in enumerate(tiers.tiers):
        if value > Fraction(t.above):
            reached = i
    slices: list[dict[str, str]] = []
    cut = Fraction(0)
    if reached >= 0 and tiers.mode == "whole":
        ratio = Fraction(tiers.tiers[reached].cut)
        cut = Fraction(fee) * ratio
        slices.append(
            {"tier": str(reached), "ratio": str(tiers.tiers[reached].cut), "on": str(fee)}
        )
    elif reached >= 0:
        for i in range(reached + 1):
            lo = Fraction(tiers.tiers[i].above)
            hi = Fraction(tiers.tiers[i + 1].above) if i + 1 < len(tiers.tiers) else value
            part = min(value, hi) - lo
            if part <= 0:
                continue
            share_fee = part if tiers.basis == "amount" else Fraction(fee) * part / value
            cut += share_fee * Fraction(tiers.tiers[i].cut)
            slices.append(
                {
                    "tier": str(i),
                    "ratio": str(tiers.tiers[i].cut),
                    "slice": str(round_fen(part)),
                    "on": str(round_fen(share_fee)),
                }
            )
    amount = -round_fen(cut) if cut else Decimal("0.00")
    details = json.dumps(
        {
            "basis": tiers.basis,
            "mode": tiers.mode,
            "value": str(round_fen(value)),
            "slices": slices,
        },
        separators=(",", ":"),
    )
    return VolumeAdjustment(
        provider=provider,
        month=month,
        tariff_version=tariff_version,
        basis=tiers.basis,
        mode=tiers.mode,
        basis_value=round_fen(value),
        fee=fee,
        amount=amount + 0,
        tier_reached=reached,
        details=details,
    )


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    return first, first + dt.timedelta(days=days)


def hours_in_month(month: dt.date) -> int:
    first, nxt = month_bounds(month)
    return (nxt - first).days * 24


def month_adjustments(
    policy: Policy,
    month: dt.date,
    fees: dict[str, Decimal],
    vcpu_hours: dict[str, Decimal],
) -> list[VolumeAdjustment]:
    """Volume-tier adjustments of every provider with tiers, for one month."""
    first, nxt = month_bounds(month)
    last_day = nxt - dt.timedelta(days=1)
    start_of_last_day = dt.datetime(last_day.year, last_day.month, last_day.day, tzinfo=policy.zone)
    version = policy.version_at(start_of_last_day)
    out = []
    for prov in version.providers:
        if prov.volume_tiers is None or prov.id not in fees:
            continue
        out.append(
            volume_adjustment(
                prov.volume_tiers,
                provider=prov.id,
                month=first,
                tariff_version=version.version,
                fee=fees[prov.id],
                vcpu_hours=vcpu_hours.get(prov.id, Decimal(0)),
                hours_in_month=hours_in_month(first),
            )
        )
    return out


@dataclass(frozen=True)
class Forecast:
    fiscal_year: int
    budget: Decimal | None
    accrued: Decimal
    days_elapsed: int
    days_in_year: int
    forecast: Decimal  # year-end spend at the current run-rate
    remaining: Decimal | None  # budget − forecast (negative = overrun)


def linear_forecast(
    fiscal_year: int,
    budget: Decimal | None,
    accrued: Decimal,
    first_day: dt.date,
    end_day: dt.date,
    through: dt.date,
) -> Forecast:
    """Year-end forecast by linear run-rate: accrued / days elapsed × days in the year.

    ``through`` is the last day with rated usage (inclusive); days elapsed
    count from the fiscal year's first day.
    """
    days_in_year = (end_day - first_day).days
    elapsed = max(0, min(days_in_year, (through - first_day).days + 1))
    fc = round_fen(Fraction(accrued) * days_in_year / elapsed) if elapsed else Decimal("0.00")
    return Forecast(
        fiscal_year=fiscal_year,
        budget=budget,
        accrued=accrued,
        days_elapsed=elapsed,
        days_in_year=days_in_year,
        forecast=fc,
        remaining=None if budget is None else budget - fc,
    )
