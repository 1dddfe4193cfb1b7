"""The stream across 1 January 2027, a year the shipped official calendar does not know.

The clock will send these hours: nothing may stop, the 2027 hours are weighted
by the weekday rule and flagged provisional (rollups, bill lines, gauge), and
once the operator supplies the State Council's 2027 schedule — here with a
make-up working day the weekday rule would not give — exactly those hours are
re-derived and the flags clear.
"""

from __future__ import annotations

import datetime as dt

from tests.worker.test_derive import SHANGHAI, ingest_fleet_between

from cloudtally import metrics
from cloudtally.core.policy import load_policy
from cloudtally.policy import example_policy_text
from cloudtally.worker.derive import Derivation

START = int(dt.datetime(2026, 12, 31, tzinfo=SHANGHAI).timestamp())  # Thursday 00:00 local
END = START + 3 * 86_400  # through Saturday 2 January 2027
NEW_YEAR = START + 86_400
SCHEDULE_2027 = """
official_calendar:
  2027:
    source: EXAMPLE schedule for the test (not the State Council's)
    holidays: [2027-01-01]
    workdays: [2027-01-02]      # a make-up Saturday (调休)
"""


def weights(store) -> dict[int, tuple[float, int]]:
    return {
        int(h): (float(w), int(p))
        for h, w, p in store.rows(
            "SELECT toUInt32(hour), weight, provisional FROM hour_weights FINAL "
            "WHERE hour >= toDateTime(%(a)s, 'UTC') AND hour < toDateTime(%(b)s, 'UTC')",
            {"a": START, "b": END},
        )
    }


def provisional_gauge(year: str) -> float:
    return metrics.CALENDAR_PROVISIONAL_HOURS.labels(year)._value.get()


def test_2027_hours_never_stop_the_stream_and_are_rederived_once_supplied(store) -> None:
    ingest_fleet_between(store, START, END, vms=6)
    policy = load_policy(example_policy_text())
    current = {"policy": policy}
    derive = Derivation(store, lambda: current["policy"])

    derive.rollup()  # must not raise on 2027
    w = weights(store)
    assert len(w) == 72
    assert all(p == 0 for h, (_, p) in w.items() if h < NEW_YEAR)
    assert all(p == 1 for h, (_, p) in w.items() if h >= NEW_YEAR)
    # weekday rule: Friday 1 January 10:00 is a business hour, Saturday is not
    assert w[NEW_YEAR + 10 * 3600][0] == 1.0  # Friday 10:00 local
    assert w[NEW_YEAR + 86_400 + 10 * 3600][0] == 0.0
    assert provisional_gauge("2027") == 48
    flags = dict(
        store.rows(
            "SELECT toDate(hour, 'Asia/Shanghai') AS d, min(calendar_provisional) "
            "FROM usage_hourly FINAL WHERE alloc_fraction > 0 GROUP BY d"
        )
    )
    assert flags == {dt.date(2026, 12, 31): 0, dt.date(2027, 1, 1): 1, dt.date(2027, 1, 2): 1}
    days = dict(
        store.rows(
            "SELECT day, max(calendar_provisional_hours) FROM usage_daily FINAL "
            "WHERE hours > 0 GROUP BY day"
        )
    )
    assert days == {dt.date(2026, 12, 31): 0, dt.date(2027, 1, 1): 24, dt.date(2027, 1, 2): 24}

    rated = derive.rate(now=END + 3600)  # late 2026 days are billed as well
    assert dt.date(2026, 12, 31) in rated.days and dt.date(2027, 1, 2) in rated.days
    lines = dict(
        store.rows(
            "SELECT day, max(calendar_provisional) FROM bill_lines GROUP BY day ORDER BY day"
        )
    )
    assert lines == {dt.date(2026, 12, 31): 0, dt.date(2027, 1, 1): 1, dt.date(2027, 1, 2): 1}

    # The operator supplies 2027: exactly the 48 provisional hours are re-derived.
    current["policy"] = load_policy(example_policy_text() + SCHEDULE_2027)
    before = weights(store)
    again = derive.rollup()
    assert again.hours == 48
    assert again.days == [dt.date(2027, 1, 1), dt.date(2027, 1, 2)]
    after = weights(store)
    assert all(after[h] == before[h] for h in after if h < NEW_YEAR)
    assert all(p == 0 for _, p in after.values())
    holiday_10am = NEW_YEAR + 10 * 3600
    make_up_10am = NEW_YEAR + 86_400 + 10 * 3600
    assert after[holiday_10am][0] == 0.0 and after[make_up_10am][0] == 1.0
    assert provisional_gauge("2027") == 0
    assert (
        store.scalar(
            "SELECT count() FROM usage_hourly FINAL WHERE alloc_fraction > 0 "
            "AND calendar_provisional = 1"
        )
        == 0
    )
    rerated = derive.rate(now=END + 7200)
    assert rerated.days == [dt.date(2027, 1, 1), dt.date(2027, 1, 2)]
    current_lines = store.scalar(
        "SELECT count() FROM bill_lines WHERE calendar_provisional = 1 AND (vm_id, day, run_id) "
        "IN (SELECT vm_id, day, argMax(run_id, version) FROM bill_current GROUP BY vm_id, day)"
    )
    assert current_lines == 0
    assert derive.rollup().hours == 0  # nothing provisional left to re-derive
