"""The facts a scorecard is computed from, gathered by the adapters (no I/O here).

Each field is one source: monthly pool utilization from the rollups, the tariff in
force at the fiscal year's start and end, the rightsizing rounds' idle candidates and
what the inventory shows of them, budget figures and the survey the buyer entered,
availability and faults from the meter, and the manual entries by indicator code.
A source that has nothing is ``None`` (or empty): the indicator says "no data".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from cloudtally.core.idle import ScoreBands


@dataclass(frozen=True)
class MonthUtilization:
    month: dt.date
    cpu_pct: Decimal | None
    mem_pct: Decimal | None
    storage_pct: Decimal | None


@dataclass(frozen=True)
class TariffPoint:
    """One tariff version's effective prices for the pool: CNY per unit-hour after the
    tender discount (a monthly price ÷ hours_per_month, as rating does), exact."""

    version: str
    effective_from: dt.date
    prices: Mapping[str, Decimal | Fraction]


@dataclass(frozen=True)
class ReclaimCandidate:
    vm_id: str
    bureau: str
    round_id: str
    found_on: dt.date  # the round that listed it was opened that day
    decision: str  # accepted | declined | '' (not decided)
    reclaimed_on: dt.date | None  # the inventory's deletion day, if any


@dataclass(frozen=True)
class Rounds:
    opened: int  # rounds opened in the fiscal year
    candidates: tuple[ReclaimCandidate, ...]


@dataclass(frozen=True)
class BudgetFigures:
    """CNY figures of the fiscal year (seed 003: 预算批复, 实际到位, 实际支出, 调减, 回收)."""

    approved: Decimal | None = None
    available: Decimal | None = None
    paid: Decimal | None = None
    reduced_to_other: Decimal | None = None
    recovered: Decimal | None = None
    source: str = ""


Answer = Literal["very_satisfied", "fairly_satisfied", "neutral", "dissatisfied"]
ANSWERS: tuple[Answer, ...] = ("very_satisfied", "fairly_satisfied", "neutral", "dissatisfied")


@dataclass(frozen=True)
class Survey:
    answers: Mapping[str, Decimal]  # answer → count or percentage
    basis: Literal["counts", "percent"]
    source: str = ""


@dataclass(frozen=True)
class Availability:
    """Metered availability of one class (compute, network, …) over the fiscal year."""

    pct: Decimal | Fraction | None  # exact: the meter's Σ up ÷ Σ (up + down) × 100
    minutes_down: Decimal | Fraction = Decimal(0)
    incidents: tuple[Mapping[str, object], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class FaultCheck:
    fault_id: str
    severity: str
    breaches: tuple[str, ...]  # which deadlines were missed (on_site, resolved, report)


@dataclass(frozen=True)
class Faults:
    checks: tuple[FaultCheck, ...]
    source: str = ""


@dataclass(frozen=True)
class Entry:
    """A manual entry: points the buyer gives an indicator, with who, when and why."""

    points: Decimal
    comment: str
    entered_by: str
    entered_at: str
    evidence: str = ""


@dataclass(frozen=True)
class ScorecardInputs:
    fiscal_year: int
    provider: str
    pool: str
    months: tuple[MonthUtilization, ...] = ()
    utilization_bands: ScoreBands = field(default_factory=ScoreBands)
    tariff_start: TariffPoint | None = None
    tariff_end: TariffPoint | None = None
    rounds: Rounds | None = None
    budget: BudgetFigures | None = None
    survey: Survey | None = None
    availability: Mapping[str, Availability] = field(default_factory=dict)
    faults: Faults | None = None
    entries: Mapping[str, Entry] = field(default_factory=dict)
