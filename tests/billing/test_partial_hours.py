"""Partial hours: prorated by the share of the hour (default) or billed per started hour."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudtally.analytics.rollups import recompute_days, recompute_hours
from cloudtally.billing.rate import rate_period
from cloudtally.core.policy import load_policy
from cloudtally.policy import example_policy_text
from tests.analytics.plant import SH, epoch, inventory

DAY0 = dt.datetime(2023, 10, 16, tzinfo=SH)


def vcpu_quantity(store, policy) -> tuple[Decimal, Decimal]:
    rate_period(store, policy, DAY0, DAY0 + dt.timedelta(days=1), run_kind="rerate")
    q, hours = store.rows(
        "SELECT sum(quantity), sum(hours) FROM bill_lines WHERE resource = 'vcpu' AND "
        "(vm_id, day, run_id) IN (SELECT vm_id, day, argMax(run_id, version) "
        "FROM bill_current GROUP BY vm_id, day)"
    )[0]
    return Decimal(q).normalize(), Decimal(hours).normalize()


def test_partial_hours_policy_switch(store) -> None:
    # created 10:20, deleted 12:40 local: 40 + 60 + 40 minutes over three started hours
    inventory(store, "short", epoch(2023, 10, 16, 10, 20, tz=SH), pool="pool-1",
              provider="provider-a", vcpu=4)  # fmt: skip
    inventory(store, "short", epoch(2023, 10, 16, 12, 40, tz=SH), event="deleted",
              pool="pool-1", provider="provider-a", vcpu=4, version=2)  # fmt: skip
    h0 = int(DAY0.timestamp())
    recompute_hours(store, None, h0, h0 + 86_400)
    recompute_days(store, None, DAY0.date(), DAY0.date() + dt.timedelta(days=1))

    prorate = load_policy(example_policy_text())
    assert prorate.versions[-1].partial_hours == "prorate"
    q, hours = vcpu_quantity(store, prorate)
    assert hours == Decimal("2.3334")  # 0.6667 + 1 + 0.6667 (alloc fraction in 1e-4)
    assert q == Decimal("9.3336")

    started = load_policy(
        example_policy_text().replace("partial_hours: prorate", "partial_hours: started_hour")
    )
    assert started.versions[-1].partial_hours == "started_hour"
    assert vcpu_quantity(store, started) == (Decimal(12), Decimal(3))
