"""Idle reclaim, storage reclaim and rightsizing: policy and decisions.

Rules from the seeds (thresholds are policy data, never code):

* **Idle VM** (Zhongshan rules): over ``idle.window_days`` (14) days, CPU *and*
  memory average < 5 % and maximum < 10 %. Averages are sample means, maxima
  are sample maxima; the VM must be metered for at least ``min_coverage`` of
  the window's expected samples, otherwise "no evidence" — never idle by gap.
* **Idle storage**: a disk (partition) whose used share stayed below 5 % in
  each of the last ``consecutive_months`` (2) complete calendar months.
* **Rightsizing** (Hainan, quarterly): daytime-weighted CPU *and* memory
  utilization < 20 %. Target size (the method, also shown in the API):

      target_vcpu = max(min_vcpu, ceil(p95_used_vcpu / target_utilization))
      target_mem  = max(min_mem_gb, ceil_to_step(p95_used_gb / target_utilization))

  where ``p95_used_vcpu`` is the business-hour-weighted 95th percentile over the
  review window of the hourly CPU p95 × allocated vCPU (i.e. used vCPUs), and
  ``target_utilization`` (default 0.6) leaves 40 % headroom above that p95.
  Targets never exceed the current allocation. Nights never size a VM, but every
  candidate also carries its all-hours and night figures, the night-heavy flag,
  the size the all-hours p95 (peaks included) would give (``peak_target_*``) and
  how full those peaks would run the daytime target (``peak_fill_of_target_pct``:
  a night batch at 96 % of its new size is visible before the downsize).

Every candidate carries its evidence (window, figures, coverage) and lists are
sorted deterministically, so re-running over the same data yields the same list.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudtally.core.calendar import Window, validate_windows

CENT = Decimal("0.01")


class IdleRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window_days: int = Field(default=14, ge=1, le=366)
    cpu_avg_below: float = Field(default=5.0, gt=0, le=100)
    mem_avg_below: float = Field(default=5.0, gt=0, le=100)
    cpu_max_below: float = Field(default=10.0, gt=0, le=100)
    mem_max_below: float = Field(default=10.0, gt=0, le=100)
    min_coverage: float = Field(default=0.8, ge=0, le=1)


class StorageIdleRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    used_pct_below: float = Field(default=5.0, gt=0, le=100)
    consecutive_months: int = Field(default=2, ge=1, le=24)
    min_coverage: float = Field(
        default=0.8, ge=0, le=1
    )  # share of the month's days with a disk sample


class RightsizingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_below: float = Field(default=20.0, gt=0, le=100)  # daytime-weighted CPU utilization, %
    mem_below: float = Field(default=20.0, gt=0, le=100)  # daytime-weighted memory utilization, %
    review_period: Literal["quarter"] = "quarter"
    percentile: float = Field(default=0.95, gt=0, le=1)
    target_utilization: float = Field(default=0.6, gt=0, le=1)  # p95 sits at 60 % of the new size
    min_vcpu: int = Field(default=1, ge=1)
    min_mem_gb: Decimal = Field(default=Decimal("1"), gt=0)
    mem_step_gb: Decimal = Field(default=Decimal("1"), gt=0)
    min_coverage: float = Field(default=0.8, ge=0, le=1)  # of business-weighted hours


class ScoreBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at_least: Decimal  # utilization % lower bound (inclusive)
    points: int


def _bands(pairs: Sequence[tuple[str, int]]) -> tuple[ScoreBand, ...]:
    return tuple(ScoreBand(at_least=Decimal(a), points=p) for a, p in pairs)


class ScoreBands(BaseModel):
    """Evaluation scoring of pool utilization; highest band first, last band is 'below all'."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    two_point: tuple[ScoreBand, ...] = _bands([("65", 2), ("60", 1), ("0", 0)])
    ten_point: tuple[ScoreBand, ...] = _bands(
        [("70", 10), ("60", 9), ("50", 8), ("40", 7), ("30", 6), ("20", 5), ("0", 0)]
    )
    precision: Decimal = Decimal("0.1")  # display only: bands use the unrounded figure

    @field_validator("two_point", "ten_point")
    @classmethod
    def _descending(cls, value: tuple[ScoreBand, ...]) -> tuple[ScoreBand, ...]:
        if not value:
            raise ValueError("at least one band")
        bounds = [b.at_least for b in value]
        if bounds != sorted(bounds, reverse=True) or len(set(bounds)) != len(bounds):
            raise ValueError("bands must be strictly descending by at_least")
        return value


class UtilizationPolicy(BaseModel):
    """Utilization part of the policy file (embedded by the tariff/policy model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    expected_sample_interval_s: int = Field(default=60, ge=1, le=3600)
    idle: IdleRule = IdleRule()
    storage_idle: StorageIdleRule = StorageIdleRule()
    rightsizing: RightsizingRule = RightsizingRule()
    scores: ScoreBands = ScoreBands()
    # Local [start, end) windows, every day, for the "night-only" figure.
    night_hours: tuple[Window, ...] = (("00:00", "06:00"), ("22:00", "24:00"))
    # A VM is flagged "night-heavy" when its night figure is at least this high and
    # at least ``night_heavy_ratio`` times its daytime figure (seed: 2 % day, >10 % night).
    night_heavy_min_pct: float = Field(default=10.0, ge=0, le=100)
    night_heavy_ratio: float = Field(default=2.0, ge=1)

    @field_validator("night_hours")
    @classmethod
    def _windows(cls, value: tuple[Window, ...]) -> tuple[Window, ...]:
        return validate_windows(value)


# -- per-VM aggregates handed in by the analytics queries ------------------------------------


@dataclass(frozen=True)
class VmWindowStats:
    """One VM's metered figures over a window (from usage_daily / usage_hourly)."""

    vm_id: str
    bureau: str
    system: str
    pool: str
    provider: str
    vcpu: int  # allocation at the end of the window
    mem_gb: Decimal
    samples: int
    cpu_avg: float | None  # sample means, %
    mem_avg: float | None
    cpu_max: float | None  # sample maxima, %
    mem_max: float | None
    cpu_day: float | None = None  # daytime-weighted utilization, %
    mem_day: float | None = None
    day_coverage: float | None = None  # metered share of business-weighted hours
    cpu_p95_used_vcpu: float | None = None  # daytime p95 of used vCPUs (see module doc)
    mem_p95_used_gb: float | None = None
    alloc_hours: float | None = None  # hours the VM existed inside the window
    expected_samples: int | None = None  # samples expected over those hours (rollups)
    cpu_all: float | None = None  # all-hours and night-only utilization, %
    mem_all: float | None = None
    cpu_night: float | None = None
    mem_night: float | None = None
    cpu_p95_used_vcpu_all: float | None = None  # p95 of used vCPUs over all hours (peaks)
    mem_p95_used_gb_all: float | None = None
    night_heavy: bool | None = None


@dataclass(frozen=True)
class UnitPrices:
    """Annual catalog price per vCPU and per GB of memory (owned by billing), CNY."""

    vcpu_year: Decimal
    mem_gb_year: Decimal


@dataclass(frozen=True)
class Candidate:
    """A reclaim / downsize proposal with the evidence that supports it."""

    kind: str  # "idle", "storage_idle", "rightsizing"
    vm_id: str
    bureau: str
    system: str
    pool: str
    provider: str
    evidence: dict[str, Any] = field(default_factory=dict)
    disk_id: str = ""
    freed_vcpu: int = 0
    freed_mem_gb: Decimal = Decimal(0)
    freed_storage_gb: Decimal = Decimal(0)
    savings_year: Decimal | None = None  # CNY, rounded half-up to 0.01

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the candidate (a change of evidence is not a new candidate)."""
        return (self.kind, self.vm_id, self.disk_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vm_id": self.vm_id,
            "disk_id": self.disk_id or None,
            "bureau": self.bureau,
            "system": self.system,
            "pool": self.pool,
            "provider": self.provider,
            "freed_vcpu": self.freed_vcpu,
            "freed_mem_gb": str(self.freed_mem_gb),
            "freed_storage_gb": str(self.freed_storage_gb),
            "savings_year": None if self.savings_year is None else str(self.savings_year),
            "evidence": self.evidence,
        }


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def _below(x: float | None, limit: float) -> bool:
    return x is not None and x < limit


# -- idle VMs -------------------------------------------------------------------------------


def idle_candidates(
    stats: Sequence[VmWindowStats],
    rule: IdleRule,
    *,
    window_start: dt.date,
    window_end: dt.date,
    sample_interval_s: int,
    prices: Callable[[VmWindowStats], UnitPrices | None] | None = None,
) -> list[Candidate]:
    """VMs idle over [window_start, window_end): averages and maxima under the rule.

    With ``prices`` (the pool's annual catalog prices) each candidate says what reclaiming
    it would save a year: its whole vCPU and memory (:func:`yearly_savings`).

    The VM must have existed for the whole window: one younger than the window
    (created inside it) never qualifies, however well it was metered — 13 days
    of idleness are not the rule's 14. Coverage is measured over the VM's life
    in the window: samples / the samples the rollups expected for its hours
    (``expected_samples``, from the source's sample interval); without those
    figures, samples / samples expected over the whole window.
    """
    days = (window_end - window_start).days
    window_hours = days * 24
    out = []
    for s in stats:
        if s.alloc_hours is not None and s.alloc_hours < window_hours - 1e-3:
            continue  # younger than the window (or created and deleted inside it)
        expected = (
            s.expected_samples
            if s.expected_samples is not None
            else days * 86400 // sample_interval_s
        )
        coverage = s.samples / expected if expected else 0.0
        if coverage < rule.min_coverage:
            continue
        if not (
            _below(s.cpu_avg, rule.cpu_avg_below)
            and _below(s.mem_avg, rule.mem_avg_below)
            and _below(s.cpu_max, rule.cpu_max_below)
            and _below(s.mem_max, rule.mem_max_below)
        ):
            continue
        out.append(
            Candidate(
                kind="idle",
                vm_id=s.vm_id,
                bureau=s.bureau,
                system=s.system,
                pool=s.pool,
                provider=s.provider,
                freed_vcpu=s.vcpu,
                freed_mem_gb=s.mem_gb,
                savings_year=_reclaimed(s, prices),
                evidence={
                    "window_start": window_start.isoformat(),
                    "window_end": window_end.isoformat(),
                    "cpu_avg": _r(s.cpu_avg),
                    "mem_avg": _r(s.mem_avg),
                    "cpu_max": _r(s.cpu_max),
                    "mem_max": _r(s.mem_max),
                    "samples": s.samples,
                    "expected_samples": expected,
                    "coverage": _r(min(coverage, 1.0), 4),
                    "vm_hours_in_window": _r(s.alloc_hours, 2),
                    "window_hours": window_hours,
                    "rule": rule.model_dump(),
                },
            )
        )
    return sorted(out, key=lambda c: (c.vm_id, c.disk_id))


# -- idle storage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskMonthStats:
    """One disk's usage over one calendar month (from disk_usage_daily)."""

    vm_id: str
    disk_id: str
    month: dt.date  # first day of the month
    tier: str
    size_gb: Decimal
    used_pct_max: float | None  # highest daily used share of the month, %
    days_sampled: int
    bureau: str = ""
    system: str = ""
    pool: str = ""
    provider: str = ""


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """First day of the month ``back`` months before the month of ``day``."""
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def days_in_month(first: dt.date) -> int:
    return (month_start(first, -1) - first).days


def storage_months(as_of: dt.date, rule: StorageIdleRule) -> list[dt.date]:
    """The complete calendar months the storage rule looks at, before ``as_of``'s month."""
    return [month_start(as_of, back) for back in range(rule.consecutive_months, 0, -1)]


def storage_idle_candidates(
    months: Sequence[DiskMonthStats], rule: StorageIdleRule, *, as_of: dt.date
) -> list[Candidate]:
    """Disks under ``used_pct_below`` % in each of the last N complete months, with coverage."""
    wanted = storage_months(as_of, rule)
    by_disk: dict[tuple[str, str], dict[dt.date, DiskMonthStats]] = {}
    for m in months:
        if m.month in wanted:
            by_disk.setdefault((m.vm_id, m.disk_id), {})[m.month] = m
    out = []
    for (vm_id, disk_id), per_month in by_disk.items():
        if set(per_month) != set(wanted):
            continue
        ok = True
        figures = []
        for first in wanted:
            m = per_month[first]
            coverage = m.days_sampled / days_in_month(first)
            figures.append(
                {
                    "month": first.isoformat()[:7],
                    "used_pct_max": _r(m.used_pct_max),
                    "days_sampled": m.days_sampled,
                    "coverage": _r(coverage, 4),
                }
            )
            if coverage < rule.min_coverage or not _below(m.used_pct_max, rule.used_pct_below):
                ok = False
        if not ok:
            continue
        last = per_month[wanted[-1]]
        out.append(
            Candidate(
                kind="storage_idle",
                vm_id=vm_id,
                disk_id=disk_id,
                bureau=last.bureau,
                system=last.system,
                pool=last.pool,
                provider=last.provider,
                freed_storage_gb=last.size_gb,
                evidence={
                    "tier": last.tier,
                    "size_gb": str(last.size_gb),
                    "months": figures,
                    "rule": rule.model_dump(),
                },
            )
        )
    return sorted(out, key=lambda c: (c.vm_id, c.disk_id))


# -- rightsizing ----------------------------------------------------------------------------


def review_quarter(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The last complete calendar quarter before ``as_of``: [start, end)."""
    q_start = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    return month_start(q_start, 3), q_start


def target_vcpu(p95_used_vcpu: float, current: int, rule: RightsizingRule) -> int:
    """ceil(p95 used vCPU / target utilization), at least ``min_vcpu``, at most current."""
    need = math.ceil(round(p95_used_vcpu / rule.target_utilization, 9))
    return min(current, max(rule.min_vcpu, need))


def target_mem_gb(p95_used_gb: float, current: Decimal, rule: RightsizingRule) -> Decimal:
    """p95 used GB / target utilization, rounded up to ``mem_step_gb``, within [min, current]."""
    need = Decimal(repr(round(p95_used_gb / rule.target_utilization, 9)))
    steps = (need / rule.mem_step_gb).to_integral_value(rounding=ROUND_CEILING)
    target = max(rule.min_mem_gb, steps * rule.mem_step_gb)
    return min(current, target)


def _night_and_peak(
    s: VmWindowStats, rule: RightsizingRule, new_vcpu: int, new_mem: Decimal
) -> dict[str, Any]:
    """Evidence nights would otherwise hide: all-hours and night figures, the night-heavy
    flag, and the size the all-hours p95 (peaks, nights included) would give — with how
    full those peaks would run the daytime target."""
    out: dict[str, Any] = {
        "cpu_all": _r(s.cpu_all),
        "mem_all": _r(s.mem_all),
        "cpu_night": _r(s.cpu_night),
        "mem_night": _r(s.mem_night),
        "night_heavy": bool(s.night_heavy),
        "p95_all_hours_used_vcpu": _r(s.cpu_p95_used_vcpu_all),
        "p95_all_hours_used_mem_gb": _r(s.mem_p95_used_gb_all),
        "peak_target_vcpu": None,
        "peak_target_mem_gb": None,
        "peak_fill_of_target_pct": None,
    }
    if s.cpu_p95_used_vcpu_all is not None and s.mem_p95_used_gb_all is not None:
        out["peak_target_vcpu"] = target_vcpu(s.cpu_p95_used_vcpu_all, s.vcpu, rule)
        out["peak_target_mem_gb"] = str(target_mem_gb(s.mem_p95_used_gb_all, s.mem_gb, rule))
        fills = [s.cpu_p95_used_vcpu_all / new_vcpu * 100]
        if new_mem > 0:
            fills.append(s.mem_p95_used_gb_all / float(new_mem) * 100)
        out["peak_fill_of_target_pct"] = _r(max(fills), 1)
    return out


def _reclaimed(
    s: VmWindowStats, prices: Callable[[VmWindowStats], UnitPrices | None] | None
) -> Decimal | None:
    """A reclaimed VM's yearly saving at its pool's prices (None without prices)."""
    p = prices(s) if prices is not None else None
    return None if p is None else yearly_savings(s.vcpu, Decimal(s.mem_gb), p)


def yearly_savings(freed_vcpu: int, freed_mem_gb: Decimal, prices: UnitPrices) -> Decimal:
    """Money freed per year at the given catalog prices, CNY half-up to 0.01."""
    amount = prices.vcpu_year * freed_vcpu + prices.mem_gb_year * freed_mem_gb
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def rightsizing_prefilter(stats: Sequence[VmWindowStats], rule: RightsizingRule) -> list[str]:
    """VMs whose daytime CPU and memory are under the thresholds with enough coverage."""
    return sorted(
        s.vm_id
        for s in stats
        if _below(s.cpu_day, rule.cpu_below)
        and _below(s.mem_day, rule.mem_below)
        and (s.day_coverage or 0.0) >= rule.min_coverage
    )


def rightsizing_candidates(
    stats: Sequence[VmWindowStats],
    rule: RightsizingRule,
    *,
    window_start: dt.date,
    window_end: dt.date,
    prices: Callable[[VmWindowStats], UnitPrices] | UnitPrices,
) -> list[Candidate]:
    """Downsize proposals (see module doc for the target method); biggest savings first.

    A VM already at the minimum size frees nothing and is not listed.
    """
    price_of = prices if callable(prices) else (lambda _s: prices)
    eligible = set(rightsizing_prefilter(stats, rule))
    out = []
    for s in stats:
        if s.vm_id not in eligible or s.cpu_p95_used_vcpu is None or s.mem_p95_used_gb is None:
            continue
        new_vcpu = target_vcpu(s.cpu_p95_used_vcpu, s.vcpu, rule)
        new_mem = target_mem_gb(s.mem_p95_used_gb, s.mem_gb, rule)
        freed_vcpu = s.vcpu - new_vcpu
        freed_mem = s.mem_gb - new_mem
        if freed_vcpu <= 0 and freed_mem <= 0:
            continue
        p = price_of(s)
        out.append(
            Candidate(
                kind="rightsizing",
                vm_id=s.vm_id,
                bureau=s.bureau,
                system=s.system,
                pool=s.pool,
                provider=s.provider,
                freed_vcpu=freed_vcpu,
                freed_mem_gb=freed_mem,
                savings_year=yearly_savings(freed_vcpu, freed_mem, p),
                evidence={
                    "window_start": window_start.isoformat(),
                    "window_end": window_end.isoformat(),
                    "cpu_day": _r(s.cpu_day),
                    "mem_day": _r(s.mem_day),
                    "day_coverage": _r(s.day_coverage, 4),
                    "current_vcpu": s.vcpu,
                    "current_mem_gb": str(s.mem_gb),
                    "p95_used_vcpu": _r(s.cpu_p95_used_vcpu),
                    "p95_used_mem_gb": _r(s.mem_p95_used_gb),
                    "target_vcpu": new_vcpu,
                    "target_mem_gb": str(new_mem),
                    **_night_and_peak(s, rule, new_vcpu, new_mem),
                    # the method's figures (the sentence is the catalogue's
                    # candidate.method, cloudtally.i18n.candidates); "method" keeps the
                    # English text for readers of stored events
                    "method_rule": {
                        "percentile": round(rule.percentile * 100),
                        "target_utilization": str(rule.target_utilization),
                        "mem_step_gb": str(rule.mem_step_gb),
                        "min_vcpu": rule.min_vcpu,
                        "min_mem_gb": str(rule.min_mem_gb),
                    },
                    "method": (
                        f"target = ceil(daytime p{round(rule.percentile * 100)} used / "
                        f"{rule.target_utilization}); memory rounded up to "
                        f"{rule.mem_step_gb} GB; at least {rule.min_vcpu} vCPU / "
                        f"{rule.min_mem_gb} GB"
                    ),
                    "unit_prices_year": {  # display; the savings use the exact prices
                        "vcpu": str(p.vcpu_year.quantize(CENT, rounding=ROUND_HALF_UP)),
                        "mem_gb": str(p.mem_gb_year.quantize(CENT, rounding=ROUND_HALF_UP)),
                    },
                },
            )
        )
    return sorted(out, key=lambda c: (-(c.savings_year or Decimal(0)), c.vm_id))
