"""Shared by the two utilization indicators: the pool's figure for a fiscal year.

A month's pool utilization is the mean of its CPU, memory and storage utilization
(:func:`cloudtally.core.kpi.exact_pool_utilization`, unrounded). ``last_month`` takes
the fiscal year's last month with data (the seed read the December report);
``year`` takes the mean over the months with data (the seed's "monthly data, the
year's total"). Months without all three figures are listed as missing; no month at
all is no evidence, which the rules score as the lowest band.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from cloudtally.core.idle import ScoreBand
from cloudtally.core.kpi import band_points, exact_pool_utilization
from cloudtally.core.scorecard.base import Evidence, IndicatorResult, Params, cut, pct_text
from cloudtally.core.scorecard.inputs import ScorecardInputs

Basis = Literal["last_month", "year"]


class UtilizationParams(Params):
    basis: Basis = "year"
    # Bands: omitted = the tariff policy's ``utilization.scores`` (what the KPI API uses).
    bands: tuple[ScoreBand, ...] | None = None


def evaluate_utilization(
    params: UtilizationParams, inputs: ScorecardInputs, default: tuple[ScoreBand, ...]
) -> IndicatorResult:
    bands = params.bands or default
    months: list[tuple[str, Decimal]] = []
    evidence: list[Evidence] = []
    for m in sorted(inputs.months, key=lambda m: m.month):
        u = exact_pool_utilization(m.cpu_pct, m.mem_pct, m.storage_pct)
        evidence.append(
            {
                "month": m.month.isoformat()[:7],
                "cpu_pct": _s(m.cpu_pct), "mem_pct": _s(m.mem_pct),
                "storage_pct": _s(m.storage_pct), "utilization_pct": _s(u),
            }
        )  # fmt: skip
        if u is not None:
            months.append((m.month.isoformat()[:7], u))
    lowest = Decimal(min(b.points for b in bands))
    if not months:
        return IndicatorResult(
            "no_data", lowest, None, "无数据", tuple(evidence),
            "no month of the fiscal year has CPU, memory and storage figures: "
            "no evidence counts as the lowest band", "no_data", "no_months",
        )  # fmt: skip
    if params.basis == "last_month":
        label, figure = months[-1]
        text, text_id = f"{label}：{pct_text(figure, '0.1')}", "last_month"
    else:
        figure = sum((u for _, u in months), Decimal(0)) / len(months)
        text, text_id = f"{len(months)} 个月平均：{pct_text(figure, '0.1')}", "months_average"
    points = Decimal(band_points(figure, bands))
    missing = len(inputs.months) - len(months)
    note = f"{missing} month(s) without all three figures" if missing else ""
    figures = {"label": label if params.basis == "last_month" else "", "n": str(len(months)),
              "pct": pct_text(figure, "0.1"), "missing": str(missing)}  # fmt: skip
    return IndicatorResult("measured", cut(points), figure, text, tuple(evidence), note,
                           text_id, "months_missing" if missing else "", figures)  # fmt: skip


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)
