"""Rollups and rating driven by the rollup queue: complete, idempotent, late-data aware."""

from __future__ import annotations

import datetime as dt
import time

from tests.sim import json_batch

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.policy import configured_policy
from cloudtally.worker.derive import Derivation
from cloudtally.worker.sink import IngestSink, RawMessage

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
START = int(dt.datetime(2026, 3, 2, tzinfo=SHANGHAI).timestamp())  # Monday 00:00 local
END = START + 2 * 86_400


def ingest_fleet(store, vms: int = 12) -> Fleet:
    return ingest_fleet_between(store, START, END, vms)


def ingest_fleet_between(store, start: int, end: int, vms: int = 12) -> Fleet:
    """A simulated fleet's inventory and 300 s samples over [start, end), through the sink
    (which accepts them however far ahead of this machine's clock they are)."""
    fleet = Fleet.build(11, vms, 2, 3, start=start, end=end)
    sink = IngestSink(store, max_future_s=max(300, end - int(time.time())))
    events = [
        RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(fleet.inventory_events())
    ]
    sink.write_inventory(events)
    for offset, chunk in enumerate(fleet.samples(start, end, 300)):
        sink.write_samples([RawMessage("samples", 0, offset, json_batch(chunk))])
    return fleet


def hourly(store) -> list[tuple]:
    return store.rows(
        "SELECT vm_id, toUInt32(hour), samples, cpu_avg, mem_max, alloc_fraction "
        "FROM usage_hourly FINAL WHERE alloc_fraction > 0 ORDER BY vm_id, hour"
    )


def test_rollup_covers_every_vm_hour_and_is_idempotent(store) -> None:
    fleet = ingest_fleet(store)
    derive = Derivation(store, configured_policy(None))
    first = derive.rollup()
    assert first.hours == 48 and len(first.days) == 2
    rows = hourly(store)
    alive_hours = sum(
        1
        for v in fleet.vms
        for h in range(START, END, 3600)
        if v.created < h + 3600 and (v.deleted is None or v.deleted > h)
    )
    assert len(rows) == alive_hours
    gap_vm = fleet.labels["gap"]
    assert gap_vm and any(r[0] == gap_vm[0] and r[2] == 0 and r[3] is None for r in rows)
    assert derive.rollup().hours == 0  # nothing new: nothing recomputed
    assert hourly(store) == rows


def test_late_sample_recomputes_its_hour(store) -> None:
    fleet = ingest_fleet(store)
    derive = Derivation(store, configured_policy(None))
    derive.rollup()
    vm = fleet.labels["idle_portal"][0]
    hour = START + 5 * 3600
    snapshot = {(r[0], r[1]): r for r in hourly(store)}
    before = snapshot[(vm, hour)]
    # A corrected, much higher reading arrives late for one sample of that hour.
    IngestSink(store).write_samples(
        [RawMessage("samples", 0, 10_000, encode_batch("late", [vm], [hour + 600], [99.0], [98.0]))]
    )
    result = derive.rollup()
    assert result.hours == 1
    after = {(r[0], r[1]): r for r in hourly(store)}
    assert after[(vm, hour)][4] == 98.0 and after[(vm, hour)][3] > before[3]
    assert after.keys() == snapshot.keys()
    assert all(after[k] == snapshot[k] for k in after if k != (vm, hour))


def test_rating_bills_closed_days_once_and_rerates_late_data(store) -> None:
    ingest_fleet(store)
    derive = Derivation(store, configured_policy(None))
    derive.rollup()
    day3 = dt.datetime.fromtimestamp(END + 3600, SHANGHAI).timestamp()
    mid_day2 = START + 86_400 + 12 * 3600
    # While day 2 is still open only day 1 is billed. The example tariff judges the
    # low-utilization cut per month, so every closed day of the month is (re-)rated
    # with the month so far (1 March has no usage: it rates to nothing).
    assert [d.isoformat() for d in derive.rate(now=mid_day2).days] == ["2026-03-01", "2026-03-02"]
    lines_day1 = store.scalar("SELECT count() FROM bill_lines WHERE day = '2026-03-02'")
    assert lines_day1 > 0
    assert store.scalar("SELECT count() FROM bill_lines WHERE day = '2026-03-03'") == 0
    # After midnight the closed day is billed without any new sample touching it.
    month_so_far = ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [d.isoformat() for d in derive.rate(now=day3).days] == month_so_far
    assert derive.rate(now=day3).days == []
    runs = store.scalar("SELECT count() FROM rating_runs")
    # Late data for day 1 re-rates its month (the cut is judged on the month).
    IngestSink(store).write_samples(
        [
            RawMessage(
                "samples",
                0,
                10_000,
                encode_batch("late", ["vm-00001"], [START + 7200], [50.0], [50.0]),
            )
        ]
    )
    derive.rollup()
    assert [d.isoformat() for d in derive.rate(now=day3).days] == month_so_far
    assert store.scalar("SELECT count() FROM rating_runs") > runs


def test_late_data_in_a_closed_month_keeps_its_final_statement(store) -> None:
    from cloudtally.billing.rate import close_month

    ingest_fleet(store)
    policy = configured_policy(None)
    derive = Derivation(store, policy)
    derive.rollup()
    after_march = dt.datetime(2026, 4, 2, 12, tzinfo=SHANGHAI).timestamp()
    derive.rate(now=after_march)
    close_month(store, policy, dt.date(2026, 3, 1), actor="test")
    final = store.rows(
        "SELECT provider, status, amount, run_id FROM statement_lines FINAL ORDER BY provider"
    )
    assert final and {r[1] for r in final} == {"final"}
    IngestSink(store).write_samples(
        [
            RawMessage(
                "samples",
                0,
                10_000,
                encode_batch("late", ["vm-00001"], [START + 7200], [50.0], [50.0]),
            )
        ]
    )
    derive.rollup()
    result = derive.rate(now=after_march)
    # the lines are re-rated: every day of March, as the low-utilization cut is per month
    assert [d.day for d in result.days] == list(range(1, 32))
    assert all(d.month == 3 for d in result.days)
    assert result.closed_months_touched == [dt.date(2026, 3, 1)]
    assert (
        store.rows(  # but the final statement changes only by an explicit re-close
            "SELECT provider, status, amount, run_id FROM statement_lines FINAL ORDER BY provider"
        )
        == final
    )


def test_a_new_tariff_version_rerates_exactly_the_days_it_covers(store) -> None:
    ingest_fleet(store)
    policy = configured_policy(None)
    derive = Derivation(store, policy)
    derive.rollup()
    later = dt.datetime(2026, 3, 5, 12, tzinfo=SHANGHAI).timestamp()
    month_so_far = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]  # monthly cut
    assert [d.isoformat() for d in derive.rate(now=later).days] == month_so_far
    assert derive.rate(now=later).days == []
    # The buyer adds a version effective 3 March (say, a renegotiated vCPU price).
    current = policy.versions[-1]
    added = current.model_copy(update={"version": "2026.1", "effective_from": dt.date(2026, 3, 3)})
    changed = type(policy).model_validate(
        {
            **policy.model_dump(),
            "versions": [*(v.model_dump() for v in policy.versions), added.model_dump()],
        }
    )
    rerated = Derivation(store, lambda: changed).rate(now=later)
    assert [d.isoformat() for d in rerated.days] == ["2026-03-03"]
    from cloudtally.billing.rate import current_filter

    versions = dict(
        store.rows(
            "SELECT toString(day), groupUniqArray(tariff_version) FROM bill_lines "
            f"WHERE {current_filter()} GROUP BY day",
            {"d0": dt.date(2026, 3, 1), "d1": dt.date(2026, 3, 10)},
        )
    )
    assert versions == {"2026-03-02": [current.version], "2026-03-03": ["2026.1"]}
