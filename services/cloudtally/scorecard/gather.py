"""Gather a scorecard's inputs from the store and the policy, then evaluate it.

* utilization: per month of the fiscal year, the pool's capacity-weighted CPU, memory
  and storage utilization over all hours (``usage_daily``, the figures the pool KPI API
  shows, to the same 4 decimals);
* tariff: the version in force on the fiscal year's first and last day (policy);
* idle reclaim: the idle items of the rounds opened in the fiscal year, the decision in
  force and the VM's first deletion in the inventory;
* budget, survey and manual points: the entries in force (:mod:`.entries`);
* availability and faults: :mod:`cloudtally.scorecard.evaluation` when present.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cloudtally.analytics.rollups import _sorted_sum
from cloudtally.core.kpi import as_decimal
from cloudtally.core.policy import BILLED_RESOURCES, Policy, Version
from cloudtally.core.scorecard.card import Scorecard, scorecard
from cloudtally.core.scorecard.inputs import (
    MonthUtilization,
    ReclaimCandidate,
    Rounds,
    ScorecardInputs,
    TariffPoint,
)
from cloudtally.core.scorecard.scheme import Scheme
from cloudtally.rounds import store as rounds_store
from cloudtally.scorecard import entries
from cloudtally.store import Store


def _pct(num: float, den: float, scale: float) -> Decimal | None:
    return None if den <= 0 else as_decimal(round(num / den * scale, 4))


def monthly_utilization(
    store: Store, provider: str, pool: str, d0: dt.date, d1: dt.date
) -> tuple[MonthUtilization, ...]:
    rows = store.dicts(
        f"""
        SELECT toStartOfMonth(day) AS month,
            {_sorted_sum("cpu_num_all")} AS cpu_num, {_sorted_sum("cpu_den_all")} AS cpu_den,
            {_sorted_sum("mem_num_all")} AS mem_num, {_sorted_sum("mem_den_all")} AS mem_den,
            {_sorted_sum("storage_num")} AS st_num, {_sorted_sum("storage_den")} AS st_den
        FROM usage_daily FINAL
        WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s
            AND provider = %(prov)s AND pool = %(pool)s
        GROUP BY month ORDER BY month
        """,
        {"d0": d0, "d1": d1, "prov": provider, "pool": pool},
    )
    return tuple(
        MonthUtilization(
            _day(r["month"]),
            _pct(r["cpu_num"], r["cpu_den"], 1.0),
            _pct(r["mem_num"], r["mem_den"], 1.0),
            _pct(r["st_num"], r["st_den"], 100.0),
        )
        for r in rows
    )


def tariff_point(policy: Policy, day: dt.date, provider: str, pool: str) -> TariffPoint | None:
    """Effective per-unit-hour prices of the pool in the version in force on ``day``."""
    try:
        version = policy.version_at(dt.datetime(day.year, day.month, day.day, tzinfo=policy.zone))
    except LookupError:
        return None
    return version_point(version, provider, pool)


def version_point(version: Version, provider: str, pool: str) -> TariffPoint | None:
    prov, p = version.provider(provider), version.pool(provider, pool)
    if prov is None or p is None:
        return None
    tender = p.tender_discount if p.tender_discount is not None else prov.tender_discount
    prices = {}
    for res in BILLED_RESOURCES:
        stated = p.prices.price(res)
        if stated is not None:
            price, per = stated
            hours = 1 if per == "hour" else version.hours_per_month
            prices[res] = Fraction(price) / hours * Fraction(tender)
    return TariffPoint(version.version, version.effective_from, prices)


def reclaim_rounds(
    store: Store, policy: Policy, provider: str, pool: str, d0: dt.date, d1: dt.date
) -> Rounds:
    opened = [
        r for r in rounds_store.list_rounds(store)
        if d0 <= _local_day(r["opened_at"], policy) < d1
    ]  # fmt: skip
    first: dict[str, ReclaimCandidate] = {}
    for r in sorted(opened, key=lambda r: (r["opened_at"], r["round_id"])):
        for item in rounds_store.items(store, r["round_id"]):
            if item["kind"] != "idle" or (item["provider"], item["pool"]) != (provider, pool):
                continue
            if item["vm_id"] not in first:
                first[item["vm_id"]] = ReclaimCandidate(
                    item["vm_id"], item["bureau"], r["round_id"],
                    _local_day(r["opened_at"], policy), item["decision"] or "", None,
                )  # fmt: skip
    deleted = _deletions(store, list(first), policy)
    cands = tuple(
        ReclaimCandidate(
            c.vm_id, c.bureau, c.round_id, c.found_on, c.decision, deleted.get(c.vm_id)
        )
        for c in first.values()
    )
    return Rounds(len(opened), cands)


def _deletions(store: Store, vms: list[str], policy: Policy) -> dict[str, dt.date]:
    if not vms:
        return {}
    rows = store.rows(
        "SELECT vm_id, min(event_ts) FROM vm_inventory FINAL "
        "WHERE event = 'deleted' AND vm_id IN %(vms)s GROUP BY vm_id",
        {"vms": tuple(vms)},
    )
    return {vm: _local_day(ts, policy) for vm, ts in rows}


def gather(
    store: Store, policy: Policy, fiscal_year: int, provider: str, pool: str
) -> ScorecardInputs:
    d0, d1 = policy.fiscal_year_range(fiscal_year)
    last = d1 - dt.timedelta(days=1)
    found = entries.in_force(store, fiscal_year, provider, pool)
    try:
        util = policy.version_at(
            dt.datetime(last.year, last.month, last.day, tzinfo=policy.zone)
        ).utilization
    except LookupError:
        util = policy.versions[0].utilization
    budget = policy.budget(fiscal_year)
    extra: dict[str, Any] = {}
    try:
        from cloudtally.scorecard import evaluation
    except ImportError:  # availability and faults not built on this branch
        pass
    else:
        extra = evaluation.inputs(store, policy, provider, pool, d0, d1)
    return ScorecardInputs(
        fiscal_year=fiscal_year, provider=provider, pool=pool,
        months=monthly_utilization(store, provider, pool, d0, d1),
        utilization_bands=util.scores,
        tariff_start=tariff_point(policy, d0, provider, pool),
        tariff_end=tariff_point(policy, last, provider, pool),
        rounds=reclaim_rounds(store, policy, provider, pool, d0, d1),
        budget=entries.budget_figures(found, budget.programme if budget else None),
        survey=entries.survey_of(found),
        entries=entries.indicator_entries(found),
        **extra,
    )  # fmt: skip


def build(
    store: Store, policy: Policy, scheme: Scheme, fiscal_year: int, provider: str, pool: str
) -> Scorecard:
    """The scorecard of one pool of one provider for one fiscal year."""
    inputs = gather(store, policy, fiscal_year, provider, pool)
    return scorecard(scheme.version_for(fiscal_year), inputs)


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value  # type: ignore[no-any-return]


def _local_day(value: Any, policy: Policy) -> dt.date:
    """Local (policy timezone) day of a stored UTC DateTime or epoch."""
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(policy.zone).date()  # type: ignore[no-any-return]
