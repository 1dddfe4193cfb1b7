"""Adoption off the ingest path: a late inventory's orphan hours are billed exactly once.

The inventory flush only writes; the rollup step adopts what the inventory has and
``vm_adoptions`` has not. A worker that dies in between (or between the queue
write and the adoption record) loses nothing and bills nothing twice.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from tests.sim import json_batch
from tests.worker.test_derive import END, SHANGHAI, START, hourly

from cloudtally.analytics.rollups import recompute_hours
from cloudtally.billing.rate import rate_period
from cloudtally.collectors.fleet import Fleet
from cloudtally.policy import configured_policy
from cloudtally.worker.adoption import adopt_announced
from cloudtally.worker.derive import Derivation
from cloudtally.worker.sink import IngestSink, RawMessage

AFTER = dt.datetime.fromtimestamp(END + 3 * 86_400, SHANGHAI).timestamp()  # days closed

CURRENT_LINES = """
SELECT vm_id, toString(day), resource, toString(quantity), toString(after_cut), count()
FROM bill_lines FINAL
WHERE (vm_id, day, run_id) IN (
    SELECT vm_id, day, argMax(run_id, version) FROM bill_current GROUP BY vm_id, day)
GROUP BY vm_id, day, resource, quantity, after_cut
ORDER BY vm_id, day, resource
"""


def late_fleet(store: Any) -> tuple[IngestSink, str, list[RawMessage]]:
    """A fleet whose VMs are all sampled, one VM's inventory withheld (not yet sent)."""
    fleet = Fleet.build(11, 8, 2, 3, start=START, end=END)
    sink = IngestSink(store, max_future_s=max(300, END - int(time.time())))
    events = [
        RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(fleet.inventory_events())
    ]
    late = fleet.vms[0].vm_id
    early = [m for m in events if f'"{late}"'.encode() not in (m.value or b"")]
    assert len(early) < len(events)
    sink.write_inventory(early)
    for offset, chunk in enumerate(fleet.samples(START, END, 300)):
        sink.write_samples([RawMessage("samples", 0, offset, json_batch(chunk))])
    return sink, late, [m for m in events if m not in early]


def sampled_hours(store: Any, vm: str) -> int:
    return int(
        store.scalar(
            "SELECT uniqExact(toStartOfHour(ts)) FROM samples WHERE vm_id = %(v)s", {"v": vm}
        )
    )


def vm_hours(store: Any, vm: str) -> int:
    return int(
        store.scalar(
            "SELECT count() FROM usage_hourly FINAL WHERE vm_id = %(v)s AND alloc_fraction > 0",
            {"v": vm},
        )
    )


def clean_recomputation(store: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Usage and current bill lines as a from-scratch recomputation leaves them."""
    policy = configured_policy(None)
    recompute_hours(store, None, START, END)
    t0 = dt.datetime.fromtimestamp(START, SHANGHAI)
    rate_period(store, policy, t0, t0 + dt.timedelta(days=2), None, "rerate", "check", now=AFTER)
    return hourly(store), store.rows(CURRENT_LINES)


def test_a_worker_dying_after_the_inventory_write_still_bills_the_orphan_hours_once(
    store,
) -> None:
    sink, late, late_events = late_fleet(store)
    first = Derivation(store, configured_policy(None))
    first.rollup()
    first.rate(now=AFTER)
    assert vm_hours(store, late) == 0  # no owner yet: kept out of rollups and bills
    assert not store.scalar("SELECT count() FROM bill_lines WHERE vm_id = %(v)s", {"v": late})

    # The inventory arrives; the flush writes it and nothing else, then the worker dies.
    queued = store.scalar("SELECT count() FROM rollup_queue")
    assert sink.write_inventory(late_events).touched_hours == 0
    assert store.scalar("SELECT count() FROM rollup_queue") == queued
    del first, sink

    # A new worker: its first rollup tick adopts the VM, the rating bills its hours.
    second = Derivation(store, configured_policy(None))
    second.rollup()
    second.rate(now=AFTER)
    hours = sampled_hours(store, late)
    assert hours > 24 and vm_hours(store, late) >= hours
    assert (
        store.scalar("SELECT hours FROM vm_adoptions FINAL WHERE vm_id = %(v)s", {"v": late})
        == hours
    )
    usage, lines = hourly(store), store.rows(CURRENT_LINES)
    assert {r[0] for r in lines} >= {late} and all(r[-1] == 1 for r in lines)
    assert second.rollup().hours == 0 and adopt_announced(store).vms == 0  # adopted once
    assert clean_recomputation(store) == (usage, lines)  # nothing missing, nothing twice


class AdoptionRecordFails:
    """The store, except that recording the adoption fails once (a crash just there)."""

    def __init__(self, store: Any) -> None:
        self._store, self.failed = store, False

    def insert(self, table: str, columns: Any, constants: Any = None) -> int:
        if table == "vm_adoptions" and not self.failed:
            self.failed = True
            raise RuntimeError("worker killed between the queue write and the adoption")
        return int(self._store.insert(table, columns, constants))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_crash_between_queueing_and_recording_the_adoption_queues_again(store) -> None:
    sink, late, late_events = late_fleet(store)
    Derivation(store, configured_policy(None)).rollup()
    sink.write_inventory(late_events)
    failing = AdoptionRecordFails(store)
    with pytest.raises(RuntimeError):
        adopt_announced(failing)  # type: ignore[arg-type]
    queued = store.scalar("SELECT count() FROM rollup_queue WHERE vm_id = %(v)s", {"v": late})
    hours = sampled_hours(store, late)
    again = adopt_announced(store)
    assert (again.vms, again.sampled_vms, again.hours) == (1, 1, hours)
    assert (
        store.scalar("SELECT count() FROM rollup_queue WHERE vm_id = %(v)s", {"v": late})
        == queued + hours
    )
    derive = Derivation(store, configured_policy(None))
    derive.rollup()
    derive.rate(now=AFTER)
    assert vm_hours(store, late) >= hours > 24
    usage, lines = hourly(store), store.rows(CURRENT_LINES)
    assert all(r[-1] == 1 for r in lines)
    assert clean_recomputation(store) == (usage, lines)


def test_vms_announced_before_any_sample_are_adopted_without_reading_samples(store) -> None:
    fleet = Fleet.build(3, 5, 1, 2, start=START, end=END)
    sink = IngestSink(store, max_future_s=max(300, END - int(time.time())))
    sink.write_inventory(
        [RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(fleet.inventory_events())]
    )
    result = adopt_announced(store)
    assert (result.vms, result.sampled_vms, result.hours) == (5, 0, 0)
    assert not store.scalar("SELECT count() FROM rollup_queue")
    assert adopt_announced(store).vms == 0
