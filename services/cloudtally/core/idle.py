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
  Targets never exceed the current allocation.

Every candidate carries its evidence (window, figures, coverage) and lists are
sorted deterministically, so re-running over the same data yields the same list.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

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
    precision: Decimal = Decimal("0.1")  # figures are compared as reported (one decimal)

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

    @field_validator("night_hours")
    @classmethod
    def _windows(cls, value: tuple[Window, ...]) -> tuple[Window, ...]:
        return validate_windows(value)
