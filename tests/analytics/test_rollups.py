"""Hourly and daily rollups on both engines: exact values, gaps, idempotence, late data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from cloudtally.analytics.rollups import (
    ensure_hour_weights,
    hours_of_days,
    recompute_days,
    recompute_hours,
    touched_hours,
)
from cloudtally.core.calendar import CalendarPolicy
from cloudtally.store import Store

from .plant import disk_samples, epoch, inventory, samples

DAY0 = dt.date(2023, 10, 9)  # a Monday, working day
H0 = epoch(2023, 10, 9, 0)  # 08:00 in Shanghai
MEASURES = (
    "vm_id, hour, bureau, vcpu, mem_gb, storage_gb_standard, storage_gb_archive, alloc_fraction, "
    "storage_used_gb, disks_sampled, samples, expected_samples, coverage, cpu_avg, cpu_max, "
    "cpu_p95, mem_avg, mem_max, mem_p95, business_weight"
)


def hourly(store: Store) -> dict[int, dict[str, object]]:
    rows = store.dicts(f"SELECT {MEASURES} FROM usage_hourly FINAL ORDER BY vm_id, hour")
    return {int(r["hour"].timestamp() - H0) // 3600: r for r in rows if r["vm_id"] == "a"}


def plant_a(store: Store) -> None:
    # created 00:20 UTC with 4 vCPU / 8 GB and a 100 GB disk; resized to 2 vCPU at 05:00
    disk = [("d1", "100", "standard"), ("d2", "50", "archive")]
    inventory(store, "a", H0 + 20 * 60, vcpu=4, mem_gb="8", disks=disk)
    inventory(store, "a", H0 + 5 * 3600, event="updated", vcpu=2, mem_gb="4", disks=disk)
    inventory(store, "a", H0 + 7 * 3600 + 30 * 60, event="deleted", vcpu=2, mem_gb="4", disks=disk)
    # hour 0 (from 00:20): 40 samples; hour 1: CPU 1..60 %; hour 2: nothing (gap);
    # hour 3: 30 samples (half coverage)
    samples(store, "a", H0 + 20 * 60 + 60 * np.arange(40), 3.0, 5.0)
    samples(store, "a", H0 + 3600 + 60 * np.arange(60), np.arange(1, 61), 50.0)
    samples(store, "a", H0 + 3 * 3600 + 120 * np.arange(30), 10.0, 20.0)
    # disks: last value of the hour counts, summed over disks
    disk_samples(store, "a", "d1", np.array([H0 + 1800, H0 + 3000]), np.array([10.0, 12.5]))
    disk_samples(store, "a", "d2", np.array([H0 + 2400]), 7.25)


def test_hourly_rollup_values(store: Store) -> None:
    plant_a(store)
    n = recompute_hours(store, ["a"], H0, H0 + 24 * 3600)
    rows = hourly(store)
    assert n == 8 == len(rows)  # 00:20 → 07:30 UTC: hours 0..7
    h0, h1, h2, h3, h5, h7 = rows[0], rows[1], rows[2], rows[3], rows[5], rows[7]
    # partial first hour
    assert h0["alloc_fraction"] == pytest.approx(40 / 60)
    assert (h0["samples"], h0["expected_samples"], h0["coverage"]) == (40, 40, 1.0)
    assert (h0["cpu_avg"], h0["mem_avg"]) == (3.0, 5.0)
    assert h0["storage_used_gb"] == pytest.approx(12.5 + 7.25)
    assert h0["disks_sampled"] == 2
    assert h0["storage_gb_standard"] == Decimal("100") and h0["storage_gb_archive"] == Decimal(50)
    # exact avg / max / p95 of 1..60
    assert h1["cpu_avg"] == pytest.approx(30.5)
    assert h1["cpu_max"] == 60.0
    assert h1["cpu_p95"] == 58.0  # quantileExact(0.95) of 60 values: 58th smallest
    assert h1["storage_used_gb"] is None and h1["disks_sampled"] == 0
    # a gap is NULL, never zero
    assert h2["samples"] == 0 and h2["coverage"] == 0.0
    assert h2["cpu_avg"] is None and h2["mem_max"] is None and h2["cpu_p95"] is None
    assert h3["coverage"] == 0.5 and h3["cpu_avg"] == 10.0
    # allocation follows the inventory; the last hour is partial (deleted at 07:30)
    assert (h1["vcpu"], h1["mem_gb"]) == (4, Decimal("8"))
    assert (h5["vcpu"], h5["mem_gb"]) == (2, Decimal("4"))
    assert h7["alloc_fraction"] == pytest.approx(0.5) and h7["expected_samples"] == 30
    # business weight: 08:00 local = 0, 09:00 = 1, 13:00 local (05 UTC) = 0.5
    assert (h0["business_weight"], h1["business_weight"], h5["business_weight"]) == (0, 1, 0.5)
    assert h0["bureau"] == "B1"


def test_recompute_is_idempotent(store: Store) -> None:
    plant_a(store)
    recompute_hours(store, ["a"], H0, H0 + 24 * 3600)
    first = store.rows(f"SELECT {MEASURES} FROM usage_hourly FINAL ORDER BY vm_id, hour")
    recompute_hours(store, ["a"], H0, H0 + 24 * 3600)
    second = store.rows(f"SELECT {MEASURES} FROM usage_hourly FINAL ORDER BY vm_id, hour")
    assert first == second and len(first) == 8
    d0, d1 = DAY0, DAY0 + dt.timedelta(days=1)
    recompute_days(store, ["a"], d0, d1)
    cols = "vm_id, day, samples, cpu_avg, cpu_day, cpu_num_all, cpu_den_all, mem_night"
    once = store.rows(f"SELECT {cols} FROM usage_daily FINAL ORDER BY vm_id, day")
    recompute_days(store, ["a"], d0, d1)
    twice = store.rows(f"SELECT {cols} FROM usage_daily FINAL ORDER BY vm_id, day")
    assert once == twice and len(once) == 1
    assert ensure_hour_weights(store, CalendarPolicy(), H0, H0 + 24 * 3600) == 0  # already there


def test_late_sample_recomputes_its_hour(store: Store) -> None:
    plant_a(store)
    recompute_hours(store, ["a"], H0, H0 + 24 * 3600)
    assert hourly(store)[2]["cpu_avg"] is None
    # a late batch for the gap hour, and a corrected sample (higher version) in hour 3
    samples(store, "a", H0 + 2 * 3600 + 60 * np.arange(6), 40.0, 60.0)
    samples(store, "a", np.array([H0 + 3 * 3600]), 70.0, 20.0, version=2)
    touched = touched_hours(np.array(["a"] * 7), H0 + 2 * 3600 + 60 * np.arange(7))
    assert touched is not None and (touched.hour_from, touched.hour_to) == (
        H0 + 2 * 3600,
        H0 + 3 * 3600,
    )
    recompute_hours(store, list(touched.vm_ids), H0 + 2 * 3600, H0 + 4 * 3600)
    rows = hourly(store)
    assert (rows[2]["samples"], rows[2]["cpu_avg"]) == (6, 40.0)
    assert rows[2]["coverage"] == pytest.approx(0.1)
    assert rows[3]["samples"] == 30 and rows[3]["cpu_max"] == 70.0
    assert rows[3]["cpu_avg"] == pytest.approx((29 * 10 + 70) / 30)
    assert len(rows) == 8
    assert store.scalar("SELECT count() FROM usage_hourly FINAL") == 8


def test_vm_without_samples_gets_rows_and_unknown_vm_none(store: Store) -> None:
    # (a disk: the chDB adapter cannot insert a column of only empty arrays — reported)
    inventory(store, "quiet", H0 - 86400, disks=[("q", "10", "standard")])
    samples(store, "ghost", H0 + 60 * np.arange(10), 50.0, 50.0)  # not in inventory
    assert recompute_hours(store, None, H0, H0 + 6 * 3600) == 6
    rows = store.dicts("SELECT vm_id, samples, coverage, cpu_avg FROM usage_hourly FINAL")
    assert {r["vm_id"] for r in rows} == {"quiet"}
    assert all(r["samples"] == 0 and r["coverage"] == 0 and r["cpu_avg"] is None for r in rows)


def test_daily_rollup_and_day_night_split(store: Store) -> None:
    # Night-batch VM over one local day: 2 % by day, 15 % at night (00–06, 22–24), 4 % otherwise
    inventory(store, "n", epoch(2023, 10, 1), vcpu=4, mem_gb="8", disks=[("d", "200", "archive")])
    h0, h1 = hours_of_days(DAY0, DAY0 + dt.timedelta(days=1), "Asia/Shanghai")
    ts = np.arange(h0, h1, 60)
    local = ((ts + 8 * 3600) // 3600) % 24
    lmin = ((ts + 8 * 3600) // 60) % 1440
    business = ((lmin >= 540) & (lmin < 720)) | ((lmin >= 810) & (lmin < 1080))
    night = (local < 6) | (local >= 22)
    cpu = np.where(business, 2.0, np.where(night, 15.0, 4.0))
    samples(store, "n", ts, cpu, 30.0)
    disk_samples(store, "n", "d", np.array([h0 + 3600, h1 - 3600]), np.array([8.0, 12.0]))
    recompute_hours(store, ["n"], h0, h1)
    assert recompute_days(store, ["n"], DAY0, DAY0 + dt.timedelta(days=1)) == 1
    (d,) = store.dicts("SELECT * FROM usage_daily FINAL")
    assert d["day"] == DAY0 and d["hours"] == 24 and d["samples"] == 1440
    assert d["coverage"] == 1.0 and d["day_coverage"] == 1.0
    assert d["business_hours"] == pytest.approx(7.5) and d["night_hours"] == pytest.approx(8)
    # hour granularity: the 13:00 hour (half business) averages 4 % and 2 % → 3 % at weight 0.5
    assert d["cpu_day"] == pytest.approx((7 * 2.0 + 0.5 * 3.0) / 7.5, abs=1e-6)
    assert d["cpu_night"] == pytest.approx(15.0, abs=1e-6)
    assert d["cpu_avg"] == pytest.approx(cpu.mean(), abs=1e-5)
    assert d["cpu_max"] == 15.0 and d["mem_day"] == pytest.approx(30.0)
    assert d["vcpu_hours"] == pytest.approx(96) and d["storage_gb_hours_archive"] == 4800
    # storage: hourly used values (8 then … 12 at the last sampled hour) over 200 GB
    assert d["storage_used_gb_avg"] == pytest.approx(10.0)
    (disk,) = store.dicts("SELECT * FROM disk_usage_daily FINAL")
    assert (disk["tier"], disk["size_gb"], disk["samples"]) == ("archive", Decimal(200), 2)
    assert disk["used_gb_avg"] == 10.0 and disk["used_pct"] == pytest.approx(6.0)


def test_late_deletion_tombstones_hours_that_no_longer_exist(store: Store) -> None:
    inventory(store, "late", H0 - 86400, disks=[("l", "10", "standard")])
    samples(store, "late", H0 + 60 * np.arange(120), 5.0, 5.0)
    assert recompute_hours(store, ["late"], H0, H0 + 6 * 3600) == 6
    day = (DAY0, DAY0 + dt.timedelta(days=1))
    recompute_days(store, ["late"], *day)
    assert store.scalar("SELECT hours FROM usage_daily FINAL") == 6  # only these were rolled up
    # the "deleted" event at 02:00 arrives after the hours were closed
    inventory(store, "late", H0 + 2 * 3600, event="deleted", disks=[("l", "10", "standard")])
    assert recompute_hours(store, ["late"], H0, H0 + 6 * 3600) == 2
    live = store.rows(
        "SELECT toUInt32(hour) FROM usage_hourly FINAL WHERE alloc_fraction > 0 ORDER BY hour"
    )
    assert [r[0] for r in live] == [H0, H0 + 3600]
    dead = store.dicts("SELECT * FROM usage_hourly FINAL WHERE alloc_fraction = 0")
    assert len(dead) == 4 and all(r["samples"] == 0 and r["cpu_avg"] is None for r in dead)
    recompute_days(store, ["late"], *day)
    (d,) = store.dicts("SELECT hours, vcpu_hours, samples FROM usage_daily FINAL")
    assert d == {"hours": 2, "vcpu_hours": 2 * 8.0, "samples": 120}
