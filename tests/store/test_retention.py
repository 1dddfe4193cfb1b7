"""Raw retention on both stores: whole UTC months go only when issued and fully derived.

The data is the year fixture's (raw samples generated in the store, rolled up and rated by
the worker's own steps, months closed by ``close_month``), two local months from
January 2023.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from loadtest.year_fixture import YearReport, build_year

from cloudtally.audit import ledger
from cloudtally.billing.cli import example_policy_text
from cloudtally.billing.rate import close_month
from cloudtally.core.policy import load_policy
from cloudtally.store import Store
from cloudtally.store.retention import apply_retention, plan, raw_partitions

SH = ZoneInfo("Asia/Shanghai")
DEC, JAN, FEB = dt.date(2022, 12, 1), dt.date(2023, 1, 1), dt.date(2023, 2, 1)
POLICY = load_policy(example_policy_text())
TODAY = dt.date(2023, 7, 10)  # keep 2 whole months: May and June (and July)


def counts(store: Store, table: str) -> dict[str, int]:
    sql = f"SELECT toString(toYYYYMM(ts)) AS p, count() FROM {table} GROUP BY p"
    return dict(store.rows(sql))


def derived(store: Store) -> tuple[int, int, object]:
    return (
        int(store.scalar("SELECT count() FROM usage_hourly") or 0),
        int(store.scalar("SELECT count() FROM bill_lines") or 0),
        store.scalar("SELECT sum(after_cut) FROM bill_lines"),
    )


def small_year(store: Store) -> YearReport:
    """Two local months (January, February 2023) of 6 VMs; January closed and issued."""
    ledger.record_policy(store, example_policy_text(), "example")
    return build_year(store, POLICY, vms=6, months=2, first_month=JAN, interval_s=1800,
                      disk_interval_s=21600, bureaus=2, close_months=1,
                      log=lambda _s: None)  # fmt: skip


@pytest.fixture
def year(store: Store) -> Store:
    small_year(store)
    return store


def test_the_fixture_reports_each_month_under_its_load(store: Store) -> None:
    """A long build that is stopped keeps what each month took and the load it ran under."""
    rep = small_year(store)
    assert [m["month"] for m in rep.per_month] == ["2023-01", "2023-02"]
    assert ["close_s" in m for m in rep.per_month] == [True, False]  # January closed only
    for m in rep.per_month:
        assert m["raw_s"] > 0 and m["rollups_s"] > 0 and len(m["load_average"]) == 3
    assert rep.seconds["close_months"] == pytest.approx(rep.per_month[0]["close_s"], abs=0.02)
    assert rep.seconds["rollups"] == pytest.approx(
        sum(m["rollups_s"] for m in rep.per_month), abs=0.02
    )


def test_drops_only_issued_derived_months(year: Store) -> None:
    store = year
    before = counts(store, "samples")
    # Local January 1 00:00 is December 31 16:00 UTC.
    assert set(before) == {"202212", "202301", "202302"}
    derived_before = derived(store)
    decisions = {d.month: d for d in plan(store, 2, TODAY, SH)}
    # UTC January holds local February's first 8 hours: held while February is open.
    assert not decisions[JAN].drop and "2023-02 not closed" in decisions[JAN].reason
    assert not decisions[FEB].drop and "2023-02 not closed" in decisions[FEB].reason
    # UTC December: local December (no usage, nothing to issue) and January (issued).
    assert decisions[DEC].drop, decisions[DEC].reason
    # Keeping 6 whole months from July keeps January on; a dry run drops nothing.
    close_month(store, POLICY, FEB, actor="alice")
    assert apply_retention(store, 6, today=TODAY, zone=SH) == []
    would = apply_retention(store, 2, today=TODAY, zone=SH, dry_run=True)
    assert {d.month for d in would} == {"2022-12", "2023-01", "2023-02"}
    assert counts(store, "samples") == before
    assert store.scalar("SELECT count() FROM raw_retention_log") == 0

    dropped = apply_retention(store, 2, actor="test", today=TODAY, zone=SH)

    assert {d.month for d in dropped} == {"2022-12", "2023-01", "2023-02"}
    assert {d.table for d in dropped} >= {"samples", "disk_samples", "rollup_queue"}
    assert counts(store, "samples") == {} and counts(store, "disk_samples") == {}
    assert derived(store) == derived_before  # rollups and bills kept, to the fen
    log = store.dicts("SELECT table_name, partition, rows FROM raw_retention_log")
    assert {(r["table_name"], r["partition"]) for r in log} >= {("samples", "202301")}
    by_part = {r["partition"]: r["rows"] for r in log if r["table_name"] == "samples"}
    assert by_part == before
    entries = [e for e in ledger.entries(store) if e.kind == "raw_retention"]
    assert len(entries) == 3 and {e.actor for e in entries} == {"test"}
    report = ledger.verify(store)
    assert report.ok, report.problems
    assert apply_retention(store, 2, today=TODAY, zone=SH) == []  # nothing more
    with pytest.raises(ValueError, match="at least one whole month"):
        apply_retention(store, 0, today=TODAY, zone=SH)


def test_a_month_with_hours_still_to_roll_up_is_held(year: Store) -> None:
    store = year
    close_month(store, POLICY, FEB, actor="alice")
    hour = int(dt.datetime(2023, 1, 20, 3, tzinfo=dt.UTC).timestamp())
    store.insert(  # a late sample's queued hour the rollup step has not reached yet
        "rollup_queue",
        {"vm_id": ["vm-00001"], "hour": np.array([hour]),
         "version": np.array([2**62], dtype=np.uint64)},
    )  # fmt: skip
    decisions = {d.month: d for d in plan(store, 2, TODAY, SH)}
    assert not decisions[JAN].drop and "1 hours still to roll up" in decisions[JAN].reason
    dropped = apply_retention(store, 2, today=TODAY, zone=SH)
    assert {d.month for d in dropped} == {"2022-12", "2023-02"}
    assert "202301" in counts(store, "samples")
    assert set(raw_partitions(store)) == {JAN}


def test_orphan_samples_hold_their_month(year: Store) -> None:
    store = year
    close_month(store, POLICY, FEB, actor="alice")
    ts = int(dt.datetime(2023, 1, 20, 3, tzinfo=dt.UTC).timestamp())
    store.insert(  # a VM no inventory has announced yet: adopted when it is
        "samples",
        {"vm_id": ["vm-unknown"], "ts": np.array([ts]), "cpu_pct": np.array([5.0], "f4"),
         "mem_pct": np.array([5.0], "f4"), "source": ["node"],
         "version": np.array([1], dtype=np.uint64)},
    )  # fmt: skip
    decisions = {d.month: d for d in plan(store, 2, TODAY, SH)}
    assert not decisions[JAN].drop and "1 VMs no inventory" in decisions[JAN].reason
