"""The simulated fleet: determinism, planted profiles at the seed thresholds, lifecycle."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import numpy as np
import pytest

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.inventory import InventoryEvent
from cloudtally.core.samples import encode_batch

from .conftest import END, INTERVAL, START, FleetData, collect

# ------------------------------------------------------------------ calendar, computed here


def local_parts(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local date ordinal, seconds of day) in Asia/Shanghai."""
    local = ts + 8 * 3600
    return local // 86400, local % 86400


def business_mask(ts: np.ndarray) -> np.ndarray:
    days, sod = local_parts(ts)
    work = {
        int(d): chinese_calendar.is_workday(dt.date(1970, 1, 1) + dt.timedelta(days=int(d)))
        for d in np.unique(days)
    }
    is_work = np.array([work[int(d)] for d in days])
    in_hours = ((sod >= 9 * 3600) & (sod < 12 * 3600)) | ((sod >= 13.5 * 3600) & (sod < 18 * 3600))
    return is_work & in_hours


def night_mask(ts: np.ndarray) -> np.ndarray:
    _, sod = local_parts(ts)
    return sod < 6 * 3600


def per_vm(data: FleetData, values: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """vm_id -> (avg, max, p95) of values (optionally within mask)."""
    out = {}
    for v in data.fleet.vms:
        sel = data.vm == v.index
        if mask is not None:
            sel &= mask
        x = values[sel].astype(np.float64)
        if len(x):
            out[v.vm_id] = (x.mean(), x.max(), np.percentile(x, 95))
    return out


def full_range_vms(data: FleetData) -> set[str]:
    return {
        v.vm_id for v in data.fleet.vms if v.created <= START and v.deleted is None and not v.gaps
    }


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_samples() -> None:
    a = Fleet.build(3, 40, 2, 5, start=START, end=START + 86400)
    b = Fleet.build(3, 40, 2, 5, start=START, end=START + 86400)
    da, db = collect(a, START, START + 86400, 60), collect(b, START, START + 86400, 60)
    for name in ("vm_id", "ts", "cpu", "mem", "disk_id", "disk_ts", "used_gb"):
        assert np.array_equal(getattr(da, name), getattr(db, name)), name
    assert [e.to_json() for e in a.inventory_events()] == [
        e.to_json() for e in b.inventory_events()
    ]
    enc = [
        encode_batch("simulate", d.vm_id[:5000], d.ts[:5000], d.cpu[:5000], d.mem[:5000])
        for d in (da, db)
    ]
    assert enc[0] == enc[1]


def test_other_seed_gives_other_samples() -> None:
    a = collect(Fleet.build(3, 40, 2, 5, start=START, end=START + 86400), START, START + 86400, 300)
    b = collect(Fleet.build(4, 40, 2, 5, start=START, end=START + 86400), START, START + 86400, 300)
    n = min(len(a.cpu), len(b.cpu))
    assert not np.array_equal(a.cpu[:n], b.cpu[:n])


def test_chunking_does_not_change_values() -> None:
    """Values depend on (seed, VM, ts) only: any split of the range gives the same rows."""
    fleet = Fleet.build(5, 30, 1, 4, start=START, end=START + 2 * 86400)
    whole = collect(fleet, START, START + 2 * 86400, 300, chunk_rows=1_000_000)
    mid = START + 86400 + 7 * 300
    parts = [
        collect(fleet, START, mid, 300, chunk_rows=777),
        collect(fleet, mid, START + 2 * 86400, 300, chunk_rows=5_000),
    ]
    for name in ("vm_id", "ts", "cpu", "mem", "used_gb"):
        assert np.array_equal(
            getattr(whole, name), np.concatenate([getattr(p, name) for p in parts])
        ), name


def test_samples_are_time_ordered_on_the_interval_grid(two_weeks: FleetData) -> None:
    assert np.all(np.diff(two_weeks.ts) >= 0)
    assert np.all(two_weeks.ts % INTERVAL == 0)
    assert two_weeks.ts.min() >= START and two_weeks.ts.max() < END
    assert two_weeks.cpu.dtype == np.float32 and two_weeks.mem.dtype == np.float32
    assert two_weeks.ts.dtype == np.int64 and two_weeks.vm_id.dtype == object
    keys = two_weeks.vm.astype(np.int64) * 2**32 + two_weeks.ts
    assert len(np.unique(keys)) == len(keys), "one sample per (vm_id, ts)"
    assert (two_weeks.cpu >= 0).all() and (two_weeks.cpu <= 100).all()
    assert (two_weeks.mem >= 0).all() and (two_weeks.mem <= 100).all()


# ------------------------------------------------------------------ fleet shape


def test_fleet_shape() -> None:
    fleet = Fleet.build(11, 500, 2, 40, providers=3, start=START, end=END)
    vms = fleet.vms
    assert len(vms) == 500 and len({v.vm_id for v in vms}) == 500
    assert {v.provider for v in vms} == {"provider-a", "provider-b", "provider-c"}
    # Two pools per provider, numbered across providers as in the example tariff.
    owner = {f"pool-{k}": f"provider-{'abc'[(k - 1) // 2]}" for k in range(1, 7)}
    assert {v.pool for v in vms} <= set(owner)
    assert all(owner[v.pool] == v.provider for v in vms)
    assert all(v.system.startswith(v.bureau + "-sys") for v in vms)
    assert len({v.bureau for v in vms}) > 30
    assert all(1 <= v.vcpu <= 64 and 2 <= v.mem_gb / v.vcpu <= 8 for v in vms)
    tiers = {d.tier for v in vms for d in v.disks}
    assert tiers == {"performance", "standard", "archive"}
    vcpus = np.array([v.vcpu for v in vms])
    assert np.isin(vcpus, [2, 4, 8, 16]).mean() > 0.6, "typical sizes dominate"
    for p in ("night_batch", "idle_portal", "oversized", "video_storage", "cold_partition"):
        assert fleet.with_profile(p), p
    # small fleets still get every planted profile
    small = Fleet.build(1, 7, 1, 2, start=START, end=END)
    assert len({v.profile for v in small.vms}) == 7


def test_default_mix_resembles_the_seed_pools(two_weeks: FleetData) -> None:
    """Business hours, capacity-weighted: pool 1 in the seed averaged 47.4 % CPU, 64.6 % memory."""
    fleet = two_weeks.fleet
    vcpu = np.array([v.vcpu for v in fleet.vms])[two_weeks.vm]
    mem_gb = np.array([v.mem_gb for v in fleet.vms])[two_weeks.vm]
    biz = business_mask(two_weeks.ts)
    cpu = np.average(two_weeks.cpu[biz], weights=vcpu[biz])
    mem = np.average(two_weeks.mem[biz], weights=mem_gb[biz])
    assert 35 < cpu < 60, cpu
    assert 50 < mem < 80, mem


# ------------------------------------------------------------------ planted profiles


def test_idle_portals_are_exactly_the_idle_vms(two_weeks: FleetData) -> None:
    """Seed rule: CPU and memory average < 5 % and maximum < 10 % over two weeks."""
    cpu, mem = per_vm(two_weeks, two_weeks.cpu), per_vm(two_weeks, two_weeks.mem)
    idle = {v for v in cpu if cpu[v][0] < 5 and cpu[v][1] < 10 and mem[v][0] < 5 and mem[v][1] < 10}
    planted = set(two_weeks.fleet.with_profile("idle_portal"))
    assert idle == planted
    for v in planted:  # well inside the margins
        assert 1 <= cpu[v][0] <= 3.5 and cpu[v][1] <= 7, cpu[v]
        assert 1 <= mem[v][0] <= 4 and mem[v][1] <= 7, mem[v]


@pytest.mark.parametrize("window", ["all", "business"])
def test_rightsizing_candidates_are_exactly_oversized_and_idle(
    two_weeks: FleetData, window: str
) -> None:
    """Seed rule: CPU and memory utilization < 20 % (by avg and by p95, all hours or daytime)."""
    mask = None if window == "all" else business_mask(two_weeks.ts)
    cpu = per_vm(two_weeks, two_weeks.cpu, mask)
    mem = per_vm(two_weeks, two_weeks.mem, mask)
    planted = set(two_weeks.fleet.with_profile("oversized")) | set(
        two_weeks.fleet.with_profile("idle_portal")
    )
    by_avg = {v for v in cpu if cpu[v][0] < 20 and mem[v][0] < 20}
    by_p95 = {v for v in cpu if cpu[v][2] < 20 and mem[v][2] < 20}
    assert by_avg == planted
    assert by_p95 == planted


def test_oversized_is_low_but_not_idle(two_weeks: FleetData) -> None:
    cpu, mem = per_vm(two_weeks, two_weeks.cpu), per_vm(two_weeks, two_weeks.mem)
    for v in two_weeks.fleet.with_profile("oversized"):
        assert 6 <= cpu[v][0] <= 15 and 6 <= mem[v][0] <= 15, (cpu[v], mem[v])
        assert 10 <= cpu[v][1] <= 18 and mem[v][1] <= 18, (cpu[v], mem[v])


def test_night_batch_is_the_seed_case(two_weeks: FleetData) -> None:
    """~2 % CPU by day, > 10 % at night (00:00-06:00); only the planted VMs look like it."""
    day = per_vm(two_weeks, two_weeks.cpu, business_mask(two_weeks.ts))
    night_m = night_mask(two_weeks.ts)
    night = per_vm(two_weeks, two_weeks.cpu, night_m)
    mem = per_vm(two_weeks, two_weeks.mem)
    planted = set(two_weeks.fleet.with_profile("night_batch"))
    looks_like = {v for v in day if day[v][0] < 5 and night[v][0] > 10}
    assert looks_like == planted
    for v in planted:
        assert 1.5 <= day[v][0] <= 2.6 and day[v][1] < 5, day[v]
        assert night[v][0] > 12
        sel = (two_weeks.vm == two_weeks.fleet.vms[int(v[3:]) - 1].index) & night_m
        assert two_weeks.cpu[sel].min() > 10, "every night sample above 10 %"
        assert 20 < mem[v][0] < 50, "memory modest"


def test_office_load_follows_business_hours_and_lunch(two_weeks: FleetData) -> None:
    biz = business_mask(two_weeks.ts)
    days, sod = local_parts(two_weeks.ts)
    lunch = (sod >= 12 * 3600) & (sod < 13.5 * 3600) & np.isin(days, np.unique(days[biz]))
    oct11 = (dt.date(2025, 10, 11) - dt.date(1970, 1, 1)).days  # make-up Saturday
    oct3 = (dt.date(2025, 10, 3) - dt.date(1970, 1, 1)).days  # National Day, a Friday
    hours = (sod >= 10 * 3600) & (sod < 11 * 3600)
    full = full_range_vms(two_weeks)
    for v in two_weeks.fleet.vms:
        if v.profile != "office" or v.vm_id not in full:
            continue
        sel = two_weeks.vm == v.index
        day_cpu = two_weeks.cpu[sel & biz].mean()
        off_cpu = two_weeks.cpu[sel & ~biz & ~lunch].mean()
        assert 20 <= day_cpu <= 62, day_cpu
        assert off_cpu < 12 and off_cpu < day_cpu / 2
        assert two_weeks.cpu[sel & lunch].mean() < day_cpu
        assert two_weeks.cpu[sel & hours & (days == oct11)].mean() > 20
        assert two_weeks.cpu[sel & hours & (days == oct3)].mean() < 12
        assert two_weeks.mem[sel].min() > 30


def test_busy_db_is_steady_high(two_weeks: FleetData) -> None:
    for v in two_weeks.fleet.with_profile("busy_db"):
        sel = two_weeks.vm == int(v[3:]) - 1
        cpu = two_weeks.cpu[sel]
        assert cpu.min() >= 55 and cpu.max() <= 85
        assert two_weeks.mem[sel].min() >= 55


def test_video_storage_is_large_cold_and_filling(two_weeks: FleetData) -> None:
    cpu, mem = per_vm(two_weeks, two_weeks.cpu), per_vm(two_weeks, two_weeks.mem)
    for v in two_weeks.fleet.vms:
        if v.profile != "video_storage":
            continue
        assert 10 <= cpu[v.vm_id][0] <= 20 and cpu[v.vm_id][1] <= 20
        assert mem[v.vm_id][0] >= 30
        archive = [d for d in v.disks if d.tier == "archive"]
        assert archive and all(d.size_gb >= 4096 for d in archive)
        for d in archive:
            sel = two_weeks.disk_id == d.disk_id
            used = two_weeks.used_gb[sel]
            daily = used[::24]
            assert daily[-1] > daily[0], "filling slowly"
            assert (daily[-1] - daily[0]) / d.size_gb < 0.05
            assert 0.3 < used.max() / d.size_gb < 0.97


def test_storage_reclaim_candidates_are_exactly_the_cold_partitions(two_weeks: FleetData) -> None:
    """Seed rule: a partition whose space usage stays < 5 %."""
    size = {d.disk_id: d.size_gb for v in two_weeks.fleet.vms for d in v.disks}
    sizes = np.array([size[d] for d in two_weeks.disk_id])
    frac = two_weeks.used_gb / sizes
    low = set()
    for disk_id in np.unique(two_weeks.disk_id):
        if frac[two_weeks.disk_id == disk_id].max() < 0.05:
            low.add(disk_id)
    cold = {d.disk_id for v in two_weeks.fleet.vms for d in v.disks if d.disk_id.endswith("-cold")}
    assert low == cold
    assert {two_weeks.fleet.profile_of(d.rsplit("-", 1)[0]) for d in cold} == {"cold_partition"}
    assert (frac > 0).all() and (two_weeks.used_gb >= 0).all()


# ------------------------------------------------------------------ lifecycle and gaps


def test_no_samples_outside_a_vms_life_or_inside_its_gap(two_weeks: FleetData) -> None:
    labels = two_weeks.fleet.labels
    assert labels["created_in_range"] and labels["deleted_in_range"]
    assert labels["resized"] and labels["gap"]
    grid = np.arange(START, END, INTERVAL)
    for v in two_weeks.fleet.vms:
        ts = two_weeks.ts[two_weeks.vm == v.index]
        expect = grid[(grid >= v.created) & (grid < (v.deleted or END))]
        for g0, g1 in v.gaps:
            expect = expect[(expect < g0) | (expect >= g1)]
        assert np.array_equal(ts, expect), v.vm_id
        dts = two_weeks.disk_ts[two_weeks.disk_vm == v.index]
        assert dts.size == 0 or (dts.min() >= v.created and dts.max() < (v.deleted or END))
        for g0, g1 in v.gaps:
            assert not ((dts >= g0) & (dts < g1)).any()
            assert g1 - g0 == 3 * 3600


def test_inventory_events_tell_the_lifecycle(two_weeks: FleetData) -> None:
    fleet = two_weeks.fleet
    events = fleet.inventory_events()
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    by_vm: dict[str, list[InventoryEvent]] = {}
    for e in events:
        by_vm.setdefault(e.vm_id, []).append(e)
    assert set(by_vm) == {v.vm_id for v in fleet.vms}
    for v in fleet.vms:
        evs = by_vm[v.vm_id]
        assert evs[0].event == "created" and evs[0].ts == v.created
        assert evs[0].vcpu == v.vcpu and int(evs[0].mem_gb) == v.mem_gb
        assert [d.disk_id for d in evs[0].disks] == [d.disk_id for d in v.disks]
        kinds = [e.event for e in evs]
        assert kinds.count("created") == 1
        if v.resized_at is not None:
            upd = evs[kinds.index("updated")]
            assert START <= upd.ts < END and upd.vcpu == v.resized_vcpu != v.vcpu
        if v.deleted is not None:
            assert kinds[-1] == "deleted" and evs[-1].ts == v.deleted
            assert START < v.deleted < END
        assert all(e.bureau == v.bureau and e.pool == v.pool for e in evs)
    # Lifecycle never touches the planted analytics profiles.
    changed = (
        set(fleet.labels["created_in_range"])
        | set(fleet.labels["deleted_in_range"])
        | set(fleet.labels["resized"])
        | set(fleet.labels["gap"])
    )
    assert {fleet.profile_of(v) for v in changed} <= {"office", "busy_db"}


def test_realtime_past_the_range_keeps_live_vms() -> None:
    fleet = Fleet.build(2, 20, 1, 3, start=START, end=START + 86400)
    later = collect(fleet, START + 86400, START + 86400 + 600, 60)
    alive = {v.vm_id for v in fleet.vms if v.deleted is None}
    assert set(later.vm_id) == alive
    assert len(later.ts) == 10 * len(alive)
