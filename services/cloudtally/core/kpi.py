"""Pool KPIs of the performance evaluation: utilization and its two scores.

Pool utilization = mean of CPU, memory and storage utilization (seed: 47.4,
64.6, 63.8 → 58.6 %). It is scored twice: the 2-point indicator (≥ 65 → 2,
60–65 → 1, < 60 → 0) and the 10-point monthly indicator (≥ 70 → 10 … < 20 → 0).
"No evidence counts as the lowest band": a pool missing any of the three
figures gets no utilization and the lowest points. Arithmetic is Decimal (a
float figure enters through its shortest repr, so 60.0 is exactly 60 — no float
edge effect at a threshold). **Banding uses the exact figure**: a figure below
a threshold never earns that band, however close (19.99 % scores 0 of 10, not
the 5 a rounded "20.0" would get). Rounding (ROUND_HALF_UP, policy
``scores.precision``, 0.1 %) is for display only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from cloudtally.core.idle import ScoreBand, ScoreBands

Number = float | int | Decimal


def as_decimal(value: Number | None) -> Decimal | None:
    """Float → Decimal through its shortest repr (47.4 stays 47.4, not 47.3999…)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and value != value:  # NaN = no data
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def exact_pool_utilization(
    cpu_pct: Number | None, mem_pct: Number | None, storage_pct: Number | None
) -> Decimal | None:
    """Mean of the three utilizations, unrounded (the figure that is banded)."""
    parts = [as_decimal(v) for v in (cpu_pct, mem_pct, storage_pct)]
    if any(p is None for p in parts):
        return None
    total = sum((p for p in parts if p is not None), Decimal(0))
    return total / 3


def pool_utilization(
    cpu_pct: Number | None,
    mem_pct: Number | None,
    storage_pct: Number | None,
    precision: Decimal = Decimal("0.1"),
) -> Decimal | None:
    """Mean of the three utilizations rounded half-up for display; None if any is missing."""
    exact = exact_pool_utilization(cpu_pct, mem_pct, storage_pct)
    return None if exact is None else exact.quantize(precision, rounding=ROUND_HALF_UP)


def band_points(utilization_pct: Decimal | None, bands: tuple[ScoreBand, ...]) -> int:
    """Points of the first band whose lower bound the figure reaches; no data → lowest band."""
    lowest = min(b.points for b in bands)
    if utilization_pct is None:
        return lowest
    for band in bands:
        if utilization_pct >= band.at_least:
            return band.points
    return lowest


@dataclass(frozen=True)
class PoolKpi:
    cpu_pct: Decimal | None
    mem_pct: Decimal | None
    storage_pct: Decimal | None
    utilization_pct: Decimal | None
    points_2: int  # 2-point pool utilization indicator
    points_10: int  # 10-point cloud and storage utilization indicator (monthly)
    no_data: bool = False  # a pool of the contract without any usage: lowest band

    def as_dict(self) -> dict[str, object]:
        return {
            "no_data": self.no_data,
            "cpu_pct": _num(self.cpu_pct),
            "mem_pct": _num(self.mem_pct),
            "storage_pct": _num(self.storage_pct),
            "utilization_pct": _num(self.utilization_pct),
            "points_2": self.points_2,
            "points_10": self.points_10,
        }


def pool_kpi(
    cpu_pct: Number | None,
    mem_pct: Number | None,
    storage_pct: Number | None,
    scores: ScoreBands | None = None,
) -> PoolKpi:
    """Utilization and both scores of one pool (or provider) for one month."""
    s = scores or ScoreBands()
    exact = exact_pool_utilization(cpu_pct, mem_pct, storage_pct)
    util = None if exact is None else exact.quantize(s.precision, rounding=ROUND_HALF_UP)

    def q(v: Number | None) -> Decimal | None:
        d = as_decimal(v)
        return None if d is None else d.quantize(s.precision, rounding=ROUND_HALF_UP)

    return PoolKpi(
        cpu_pct=q(cpu_pct),
        mem_pct=q(mem_pct),
        storage_pct=q(storage_pct),
        utilization_pct=util,
        points_2=band_points(exact, s.two_point),
        points_10=band_points(exact, s.ten_point),
    )


def _num(d: Decimal | None) -> float | None:
    """JSON figure: a percentage with one decimal is exact enough as a float."""
    return None if d is None else float(d)
