"""A stream-rated month under a monthly low-utilization cut equals an explicit re-rate.

The planted VM is busy for the first ten days of March 2026 and idle after:
the month as a whole earns the cut (daytime mean ≈ 16.6 % < 20 %), the month
so far on 11 March does not. Data arrives in two parts, as a stream would
deliver it; the stream must end with every day of March cut — line for line
what `billing rate` of the month gives — and the days rated before the month
was complete must say they were provisional.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from cloudtally.billing.rate import rate_period
from cloudtally.policy import configured_policy
from cloudtally.worker.derive import Derivation
from tests.analytics.plant import SH, epoch, inventory, samples

MARCH = epoch(2026, 3, 1, tz=SH)
DAY = 86_400
VMS = {"swing": None, "low": 8.0, "busy": 55.0}  # None: 50 % then 1 %


def plant_days(store, first: int, last: int) -> None:
    """Samples every 10 minutes for March days [first, last] and their queue entries."""
    t0, t1 = MARCH + (first - 1) * DAY, MARCH + last * DAY
    ts = np.arange(t0, t1, 600)
    for vm, level in VMS.items():
        if level is None:
            values = np.where(ts < MARCH + 10 * DAY, 50.0, 1.0)
        else:
            values = np.full(len(ts), level)
        samples(store, vm, ts, values, values)
    hours = np.arange(t0, t1, 3600)
    version = time.time_ns() // 1_000_000
    store.insert(
        "rollup_queue",
        {"vm_id": [""] * len(hours), "hour": hours, "version": np.full(len(hours), version)},
    )


def current_lines(store) -> dict[tuple, tuple]:
    rows = store.rows(
        "SELECT vm_id, day, resource, after_cut, month_provisional FROM bill_lines "
        "WHERE (vm_id, day, run_id) IN (SELECT vm_id, day, argMax(run_id, version) "
        "FROM bill_current GROUP BY vm_id, day)"
    )
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def test_stream_month_equals_an_explicit_rerate_line_for_line(store) -> None:
    policy = configured_policy(None)
    for vm in VMS:
        inventory(store, vm, MARCH - DAY, pool="pool-1", provider="provider-a", vcpu=4)
    derive = Derivation(store, policy)

    plant_days(store, 1, 10)
    derive.rollup()
    derive.rate(now=MARCH + 10 * DAY + 3600)  # 11 March 01:00: days 1-10 closed
    early = current_lines(store)
    assert {k[1].day for k in early} == set(range(1, 11))
    assert all(v[1] == 1 for v in early.values())  # the month is not complete: provisional

    plant_days(store, 11, 31)
    derive.rollup()
    derive.rate(now=MARCH + 31 * DAY + 3600)  # 1 April 01:00: March complete
    streamed = current_lines(store)
    assert len({k[1] for k in streamed}) == 31
    assert all(v[1] == 0 for v in streamed.values())
    cut_days = {
        r[0].day
        for r in store.rows(
            "SELECT day FROM bill_lines WHERE vm_id = 'swing' AND resource = 'vcpu' "
            "AND after_cut < after_discount AND (vm_id, day, run_id) IN (SELECT vm_id, day, "
            "argMax(run_id, version) FROM bill_current GROUP BY vm_id, day)"
        )
    }
    assert cut_days == set(range(1, 32))  # the first ten days too

    rate_period(
        store, policy, dt.datetime(2026, 3, 1, tzinfo=SH), dt.datetime(2026, 4, 1, tzinfo=SH),
        run_kind="rerate", reason="audit", now=MARCH + 40 * DAY,
    )  # fmt: skip
    assert current_lines(store) == streamed
