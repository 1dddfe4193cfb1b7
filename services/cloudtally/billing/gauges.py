"""Billing figures for dashboards and alerts (display only: the money of record stays
Decimal in ClickHouse; Prometheus gauges are floats)."""

from __future__ import annotations

import datetime as dt

from cloudtally import metrics
from cloudtally.analytics.gauges import publish
from cloudtally.billing.statements import statement
from cloudtally.core.policy import Policy
from cloudtally.store import Store


def refresh_billing_gauges(store: Store, policy: Policy, day: dt.date) -> None:
    """Fiscal-year spend per provider (lines and provider-level adjustments) and budgets."""
    fy = policy.fiscal_year_of(day)
    st = statement(store, policy, fiscal_year=fy, by="provider")
    spend: dict[tuple[str, ...], float] = {}
    for row in st.rows:
        spend[(row["provider"],)] = spend.get((row["provider"],), 0.0) + float(row["after_cut"])
    for adj in st.adjustments:
        key = (adj["provider"],)
        spend[key] = spend.get(key, 0.0) + float(adj["amount"])
    publish(metrics.BILLING_FY_AMOUNT, spend)
    budget = policy.budget(fy)
    budgets: dict[tuple[str, ...], float] = {}
    if budget is not None:
        budgets[("programme",)] = float(budget.programme)
        budgets.update({(b,): float(v) for b, v in budget.bureaus.items()})
    publish(metrics.BILLING_BUDGET, budgets)
    metrics.ANALYTICS_LAST_SUCCESS.labels("billing").set_to_current_time()
