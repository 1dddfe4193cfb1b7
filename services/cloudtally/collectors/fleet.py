"""A deterministic simulated fleet of government e-cloud VMs (numpy, seeded, no I/O).

Why: demos, load tests and the utilization analytics need a fleet whose behaviour
is *known*. Every VM carries a planted ``profile`` (office, night_batch,
idle_portal, oversized, busy_db, video_storage, cold_partition) whose statistics
sit well inside or well outside the seed thresholds (idle: avg < 5 % and max < 10 %
over two weeks; rightsizing: CPU and memory < 20 %; night batch: ~2 % by day,
> 10 % at night), so tests can assert that the analytics find exactly the planted
VMs.

Determinism: every value is a pure function of (seed, VM, timestamp) through a
counter-based hash (splitmix64), so the same seed gives byte-identical samples
however the time range is chunked, and a realtime tick produces the same rows
as a backfill over the same instant.

Shape: ``pools`` is the number of resource pools *per provider* (provider-a:
pool-1, pool-2; provider-b: pool-3, pool-4; ...; the packaged example tariff
prices pools 1–6 of providers a–c). Lifecycle events (creation and deletion inside the
range, resizes) and the planted metering gap only touch ``office`` and
``busy_db`` VMs, so the planted analytics profiles always cover the whole range.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import numpy as np

from cloudtally.core.inventory import Disk, InventoryEvent
from cloudtally.core.samples import DiskColumns, SampleColumns

log = logging.getLogger(__name__)

SHANGHAI_OFFSET_S = 8 * 3600  # Asia/Shanghai has no DST
DAY_S = 86_400
NEVER = np.iinfo(np.int64).max

PROFILES = (
    "office",
    "night_batch",
    "idle_portal",
    "oversized",
    "busy_db",
    "video_storage",
    "cold_partition",
)
# Default mix; planted analytics profiles get at least one VM each when the fleet
# is big enough (>= 7 VMs).
MIX = {
    "office": 0.52,
    "busy_db": 0.20,
    "night_batch": 0.04,
    "idle_portal": 0.08,
    "oversized": 0.08,
    "video_storage": 0.04,
    "cold_partition": 0.04,
}
PLANTED = ("night_batch", "idle_portal", "oversized", "video_storage", "cold_partition")
LIFECYCLE_PROFILES = ("office", "busy_db")

# Hour weights (Asia/Shanghai): business hours on working days, the lunch dip
# between the two windows, shoulders around them, and the 00:00-06:00 batch window.
BUSINESS = ((9 * 3600, 12 * 3600), (13 * 3600 + 1800, 18 * 3600))
LUNCH = (12 * 3600, 13 * 3600 + 1800)
SHOULDERS = ((8 * 3600, 9 * 3600), (18 * 3600, 19 * 3600 + 1800))
NIGHT = (0, 6 * 3600)
LUNCH_WEIGHT = np.float32(0.35)
SHOULDER_WEIGHT = np.float32(0.3)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U16 = np.float32(1.0 / 65535.0)


@dataclass(frozen=True)
class SimDisk:
    disk_id: str
    size_gb: int
    tier: str  # performance | standard | archive
    fill0: float  # fraction used at the start of the fleet's range
    growth_per_day: float  # fraction of size added per day
    fill_max: float  # never fuller than this
    jitter: float  # +- fraction of size, deterministic noise


@dataclass
class SimVM:
    index: int
    vm_id: str
    name: str
    bureau: str
    system: str
    pool: str
    provider: str
    profile: str
    vcpu: int
    mem_gb: int
    disks: tuple[SimDisk, ...]
    created: int  # epoch s
    deleted: int | None = None  # epoch s, exclusive end of life
    resized_at: int | None = None
    resized_vcpu: int | None = None
    resized_mem_gb: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)  # [from, to) without samples
    # [from, to) the VM does not answer while its collector runs (a planted outage)
    outages: list[tuple[int, int]] = field(default_factory=list)

    @property
    def silent(self) -> list[tuple[int, int]]:
        return self.gaps + self.outages

    def alive(self, ts: int) -> bool:
        return self.created <= ts and (self.deleted is None or ts < self.deleted)


@dataclass
class Chunk:
    """Samples of all live VMs for a slice of time, ordered by (ts, VM)."""

    samples: SampleColumns
    disks: DiskColumns
    vm_index: np.ndarray  # int32, per sample row: index into Fleet.vms
    disk_vm_index: np.ndarray  # int32, per disk row


@lru_cache(maxsize=8192)
def is_workday(day_index: int) -> bool:
    """Official Chinese working day (调休 included) for a local day number since epoch."""
    day = dt.date(1970, 1, 1) + dt.timedelta(days=day_index)
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The simulator must keep running in realtime past the library's last year;
        # the analytics' calendar is the one that fails loudly.
        log.warning("no official calendar for %s; simulating Mon-Fri", day.year)
        return day.weekday() < 5


def hour_weights(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(day weight, night weight) per timestamp: 1 in business hours, lunch dip, 0 off."""
    local = ts + SHANGHAI_OFFSET_S
    days = local // DAY_S
    sod = local - days * DAY_S
    uniq = np.unique(days)
    work_by_day = np.array([is_workday(int(d)) for d in uniq], dtype=bool)
    work = work_by_day[np.searchsorted(uniq, days)]
    wday = np.zeros(len(ts), dtype=np.float32)
    for lo, hi in BUSINESS:
        wday[work & (sod >= lo) & (sod < hi)] = 1.0
    wday[work & (sod >= LUNCH[0]) & (sod < LUNCH[1])] = LUNCH_WEIGHT
    for lo, hi in SHOULDERS:
        wday[work & (sod >= lo) & (sod < hi)] = SHOULDER_WEIGHT
    wnight = ((sod >= NIGHT[0]) & (sod < NIGHT[1])).astype(np.float32)
    return wday, wnight


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, in place on a uint64 array (wrapping arithmetic)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _keys(seed: int, salt: int, ids: np.ndarray) -> np.ndarray:
    base = np.uint64((seed * 0x2545F4914F6CDD1D + salt * 0x9E3779B1) % 2**64)
    x = ids.astype(np.uint64) * _GOLDEN + base
    return _mix(x)


def _noise2(row_keys: np.ndarray, col_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent triangular noises in [-1, 1] per (row, col), float32."""
    h = row_keys[:, None] ^ col_keys[None, :]
    _mix(h)
    a = (h & np.uint64(0xFFFF)) + ((h >> np.uint64(16)) & np.uint64(0xFFFF))
    b = ((h >> np.uint64(32)) & np.uint64(0xFFFF)) + (h >> np.uint64(48))
    n1 = a.astype(np.float32)
    n1 *= _U16
    n1 -= 1.0
    n2 = b.astype(np.float32)
    n2 *= _U16
    n2 -= 1.0
    return n1, n2


@dataclass
class _Params:
    """Per-VM level model for one metric: level = off + dday*wday + dnight*wnight,
    value = clip(level + noise * (level*rel + abs), lo, hi)."""

    off: np.ndarray
    dday: np.ndarray
    dnight: np.ndarray
    rel: np.ndarray
    abs: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Params:
        return cls(*(np.zeros(n, dtype=np.float32) for _ in range(7)))

    def set(self, i: int, **kw: float) -> None:
        for k, v in kw.items():
            getattr(self, k)[i] = v

    def take(self, idx: np.ndarray) -> _Params:
        return _Params(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def values(self, wday: np.ndarray, wnight: np.ndarray, noise: np.ndarray) -> np.ndarray:
        level: np.ndarray = self.off[None, :] + self.dday[None, :] * wday[:, None]
        level += self.dnight[None, :] * wnight[:, None]
        amp = level * self.rel[None, :]
        amp += self.abs[None, :]
        amp *= noise
        level += amp
        np.clip(level, self.lo[None, :], self.hi[None, :], out=level)
        return level


def _profile_params(p: str, rng: np.random.Generator) -> tuple[dict[str, float], dict[str, float]]:
    """CPU and memory level models. Bounds are chosen so noise never crosses a seed threshold."""
    u = rng.uniform
    if p in ("office", "cold_partition"):
        off = u(3, 8)
        moff = u(45, 70)
        cpu = dict(off=off, dday=u(25, 60) - off, dnight=0, rel=0.15, abs=2, lo=0.5, hi=98)
        mem = dict(off=moff, dday=u(5, 15), dnight=0, rel=0.05, abs=2, lo=31, hi=98)
    elif p == "night_batch":
        off = u(1.5, 2.5)
        moff = u(25, 35)
        # night min = 15*0.75-0.3 = 10.95 % > 10 %; day max = 2.5*1.25+0.3 = 3.4 %
        cpu = dict(off=off, dday=0, dnight=u(15, 30) - off, rel=0.25, abs=0.3, lo=0.3, hi=60)
        mem = dict(off=moff, dday=0, dnight=u(5, 10), rel=0.05, abs=1.5, lo=21, hi=60)
    elif p == "idle_portal":
        # max = 2.8*1.5+1 = 5.2 % < 7 %
        cpu = dict(off=u(1.2, 2.8), dday=0, dnight=0, rel=0.5, abs=1.0, lo=0.2, hi=7)
        mem = dict(off=u(2.0, 3.5), dday=0, dnight=0, rel=0.2, abs=0.8, lo=0.5, hi=7)
    elif p == "oversized":
        # day 11..14 % (peaks <= 17.1 %), off-hours 6..9 %: avg ~6-15 %, max >= 10 %
        off = u(6, 9)
        moff = u(8, 12)
        cpu = dict(off=off, dday=u(11, 14) - off, dnight=0, rel=0.15, abs=1.0, lo=5, hi=18)
        mem = dict(off=moff, dday=u(1, 3), dnight=0, rel=0.1, abs=1.0, lo=5, hi=18)
    elif p == "busy_db":
        cpu = dict(off=u(58, 72), dday=u(3, 8), dnight=0, rel=0.08, abs=2, lo=55, hi=85)
        mem = dict(off=u(70, 85), dday=2, dnight=0, rel=0.03, abs=1.5, lo=55, hi=95)
    elif p == "video_storage":
        cpu = dict(off=u(13, 17), dday=u(1, 2), dnight=0, rel=0.1, abs=1.0, lo=10.5, hi=20)
        mem = dict(off=u(35, 50), dday=0, dnight=0, rel=0.05, abs=2, lo=31, hi=70)
    else:
        raise ValueError(f"unknown profile {p!r}")
    return cpu, mem


def _size(profile: str, rng: np.random.Generator) -> tuple[int, int]:
    if profile == "busy_db":
        vcpu = int(rng.choice([8, 16, 32, 64], p=[0.3, 0.4, 0.25, 0.05]))
        ratio = 8
    elif profile == "idle_portal":
        vcpu, ratio = int(rng.choice([1, 2, 4])), int(rng.choice([2, 4]))
    elif profile == "oversized":
        vcpu, ratio = int(rng.choice([8, 16, 32])), int(rng.choice([4, 8]))
    else:
        vcpu = int(rng.choice([1, 2, 4, 8, 16, 32], p=[0.05, 0.25, 0.3, 0.25, 0.12, 0.03]))
        ratio = int(rng.choice([2, 4, 8], p=[0.3, 0.5, 0.2]))
    return vcpu, vcpu * ratio


def _disks(vm_id: str, profile: str, rng: np.random.Generator) -> tuple[SimDisk, ...]:
    u = rng.uniform
    tier = "performance" if profile == "busy_db" else str(rng.choice(["performance", "standard"]))
    out = [
        SimDisk(
            f"{vm_id}-sys", int(rng.choice([40, 50, 100])), tier, u(0.3, 0.6), 0.0002, 0.9, 0.003
        )
    ]
    if profile == "video_storage":
        for k in range(int(rng.integers(2, 5))):
            size = int(rng.integers(4, 17)) * 1024  # 4..16 TB
            out.append(
                SimDisk(f"{vm_id}-nvr{k + 1}", size, "archive", u(0.35, 0.65), 0.002, 0.96, 0.001)
            )
    else:
        for k in range(int(rng.integers(0, 3))):
            size = int(rng.choice([100, 200, 500, 1000, 2000]))
            t = (
                "performance"
                if profile == "busy_db"
                else str(rng.choice(["performance", "standard", "archive"], p=[0.3, 0.6, 0.1]))
            )
            out.append(
                SimDisk(f"{vm_id}-data{k + 1}", size, t, u(0.25, 0.8), u(0, 0.0005), 0.97, 0.003)
            )
    if profile == "cold_partition":
        # Storage reclaim candidate: 1-3 % used (+-0.3 %), never >= 5 %.
        size = int(rng.choice([500, 1000, 2000]))
        out.append(SimDisk(f"{vm_id}-cold", size, "standard", u(0.01, 0.03), 0.0, 0.04, 0.003))
    return tuple(out)


ROLE = {
    "office": "app",
    "cold_partition": "file",
    "night_batch": "stat",
    "idle_portal": "web",
    "oversized": "app",
    "busy_db": "db",
    "video_storage": "nvr",
}


class Fleet:
    """The simulated fleet; build with :meth:`Fleet.build`."""

    def __init__(self, seed: int, vms: list[SimVM], start: int, end: int) -> None:
        self.seed = seed
        self.vms = vms
        self.start = start
        self.end = end
        n = len(vms)
        self.vm_ids = np.array([v.vm_id for v in vms], dtype=object)
        self.created = np.array([v.created for v in vms], dtype=np.int64)
        self.deleted = np.array(
            [NEVER if v.deleted is None else v.deleted for v in vms], dtype=np.int64
        )
        self._vm_keys = _keys(seed, 1, np.arange(n))
        self.cpu = _Params.empty(n)
        self.mem = _Params.empty(n)
        prng = np.random.default_rng([seed, 2])
        for v in vms:
            c, m = _profile_params(v.profile, prng)
            self.cpu.set(v.index, **c)
            self.mem.set(v.index, **m)
        self.gap_vms = np.array([v.index for v in vms if v.silent], dtype=np.int64)
        disks = [(v.index, d) for v in vms for d in v.disks]
        self.disk_vm = np.array([i for i, _ in disks], dtype=np.int32)
        self.disk_ids = np.array([d.disk_id for _, d in disks], dtype=object)
        self.disk_size = np.array([d.size_gb for _, d in disks], dtype=np.float64)
        self.disk_fill0 = np.array([d.fill0 for _, d in disks], dtype=np.float64)
        self.disk_growth = np.array([d.growth_per_day for _, d in disks], dtype=np.float64)
        self.disk_fill_max = np.array([d.fill_max for _, d in disks], dtype=np.float64)
        self.disk_jitter = np.array([d.jitter for _, d in disks], dtype=np.float64)
        self._disk_keys = _keys(seed, 3, np.arange(len(disks)))

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        seed: int,
        vms: int,
        pools: int,
        bureaus: int,
        providers: int = 3,
        *,
        start: int,
        end: int,
    ) -> Fleet:
        if vms < 1 or pools < 1 or bureaus < 1 or providers < 1:
            raise ValueError("vms, pools, bureaus and providers must be >= 1")
        if providers > 26:
            raise ValueError("at most 26 providers (A..Z)")
        if end <= start:
            raise ValueError("end must be after start")
        rng = np.random.default_rng([seed, 0])
        span = end - start

        # Ids match the packaged example tariff: provider-a owns pool-1, pool-2, provider-b
        # pool-3, pool-4, ... (pools are numbered across providers, as buyers number them).
        provider_names = [f"provider-{chr(ord('a') + i)}" for i in range(providers)]
        pool_list = [
            (f"pool-{k * pools + j + 1}", p)
            for k, p in enumerate(provider_names)
            for j in range(pools)
        ]
        # First pools of each provider are bigger, like the seeds' 一云 vs 二云.
        pool_w = np.array([1.0 / (1 + 0.5 * (i % pools)) for i in range(len(pool_list))])
        pool_w /= pool_w.sum()
        bureau_ids = [f"bureau-{i + 1:03d}" for i in range(bureaus)]
        systems = {
            b: [f"{b}-sys{j + 1}" for j in range(int(rng.integers(1, 5)))] for b in bureau_ids
        }

        profiles = _assign_profiles(vms, rng)
        sims: list[SimVM] = []
        for i, prof in enumerate(profiles):
            vm_id = f"vm-{i + 1:05d}"
            bureau = bureau_ids[int(rng.integers(0, bureaus))]
            system = systems[bureau][int(rng.integers(0, len(systems[bureau])))]
            pool, provider = pool_list[int(rng.choice(len(pool_list), p=pool_w))]
            vcpu, mem = _size(prof, rng)
            created = start - int(rng.integers(1, 720)) * DAY_S - int(rng.integers(0, DAY_S))
            sims.append(
                SimVM(
                    i,
                    vm_id,
                    f"{system}-{ROLE[prof]}{i + 1}",
                    bureau,
                    system,
                    pool,
                    provider,
                    prof,
                    vcpu,
                    mem,
                    _disks(vm_id, prof, rng),
                    created,
                )
            )

        eligible = [v for v in sims if v.profile in LIFECYCLE_PROFILES]
        order = rng.permutation(len(eligible))
        eligible = [eligible[k] for k in order]
        n_el = len(eligible)
        n_created = max(1, round(0.06 * n_el)) if n_el >= 4 else 0
        n_deleted = max(1, round(0.04 * n_el)) if n_el >= 4 else 0
        n_resized = max(1, round(0.05 * n_el)) if n_el >= 4 else 0
        k = 0
        for v in eligible[k : k + n_created]:
            v.created = start + int(rng.uniform(0.05, 0.9) * span)
        k += n_created
        for v in eligible[k : k + n_deleted]:
            v.deleted = start + int(rng.uniform(0.1, 0.95) * span)
        k += n_deleted
        for v in eligible[k : k + n_resized]:
            v.resized_at = start + int(rng.uniform(0.2, 0.8) * span)
            v.resized_vcpu = max(1, v.vcpu // 2) if v.vcpu > 2 else v.vcpu * 2
            v.resized_mem_gb = v.resized_vcpu * (v.mem_gb // v.vcpu)
        k += n_resized
        if k < n_el and span >= 6 * 3600:
            g0 = (start + int(0.4 * span)) // 3600 * 3600
            eligible[k].gaps.append((g0, g0 + 3 * 3600))
        return cls(seed, sims, start, end)

    # ------------------------------------------------------------- inventory
    def inventory_events(self) -> list[InventoryEvent]:
        """Every VM's lifecycle: created (maybe before the range), updated (resize), deleted."""
        events: list[InventoryEvent] = []
        for v in self.vms:
            events.append(self._event(v, "created", v.created, v.vcpu, v.mem_gb))
            vcpu, mem = v.vcpu, v.mem_gb
            if v.resized_at is not None and v.resized_vcpu and v.resized_mem_gb:
                vcpu, mem = v.resized_vcpu, v.resized_mem_gb
                events.append(self._event(v, "updated", v.resized_at, vcpu, mem))
            if v.deleted is not None:
                events.append(self._event(v, "deleted", v.deleted, vcpu, mem))
        events.sort(key=lambda e: (e.ts, e.vm_id))
        return events

    @staticmethod
    def _event(v: SimVM, kind: str, ts: int, vcpu: int, mem_gb: int) -> InventoryEvent:
        return InventoryEvent.model_validate(
            {
                "event": kind,
                "vm_id": v.vm_id,
                "ts": ts,
                "name": v.name,
                "bureau": v.bureau,
                "system": v.system,
                "pool": v.pool,
                "provider": v.provider,
                "vcpu": vcpu,
                "mem_gb": Decimal(mem_gb),
                "disks": [
                    Disk(disk_id=d.disk_id, size_gb=Decimal(d.size_gb), tier=d.tier)  # type: ignore[arg-type]
                    for d in v.disks
                ],
            }
        )

    # --------------------------------------------------------------- labels
    def profile_of(self, vm_id: str) -> str:
        return self.vms[int(vm_id.rsplit("-", 1)[1]) - 1].profile

    def with_profile(self, profile: str) -> list[str]:
        return [v.vm_id for v in self.vms if v.profile == profile]

    @property
    def labels(self) -> dict[str, list[str]]:
        """Planted behaviour, for tests: profile -> vm_ids, plus lifecycle and gap labels."""
        out = {p: self.with_profile(p) for p in PROFILES}
        out["created_in_range"] = [v.vm_id for v in self.vms if v.created >= self.start]
        out["deleted_in_range"] = [v.vm_id for v in self.vms if v.deleted is not None]
        out["resized"] = [v.vm_id for v in self.vms if v.resized_at is not None]
        out["gap"] = [v.vm_id for v in self.vms if v.gaps]
        out["outage"] = [v.vm_id for v in self.vms if v.outages]
        return out

    def plant_outage(self, pool: str, t0: int, t1: int) -> list[str]:
        """Every VM of ``pool`` alive at ``t0`` stops answering over [t0, t1) (a pool-wide
        fault: the hosts or the pool's network), while the collector keeps beating — so
        availability shows downtime and the SLA credit rule has something to credit."""
        hit = [v for v in self.vms if v.pool == pool and v.alive(t0)]
        for v in hit:
            v.outages.append((t0, t1))
        self.gap_vms = np.array([v.index for v in self.vms if v.silent], dtype=np.int64)
        return [v.vm_id for v in hit]

    # -------------------------------------------------------------- samples
    def samples(
        self,
        t0: int,
        t1: int,
        interval: int,
        *,
        disk_interval: int = 3600,
        chunk_rows: int = 250_000,
    ) -> Iterator[Chunk]:
        """Columnar samples for ts on the epoch-aligned grid in [t0, t1), in time order.

        Disk usage rows are on their own (coarser) grid of ``disk_interval`` seconds.
        """
        if interval < 1 or disk_interval < 1:
            raise ValueError("intervals must be >= 1 s")
        first = -(-t0 // interval) * interval
        if first >= t1:
            return
        live_now = int(((self.created < t1) & (self.deleted > t0)).sum())
        steps = max(1, chunk_rows // max(1, live_now))
        a = first
        while a < t1:
            b = min(t1, a + steps * interval)
            yield self._chunk(a, b, interval, disk_interval)
            a = b

    def _chunk(self, a: int, b: int, interval: int, disk_interval: int) -> Chunk:
        ts = np.arange(a, b, interval, dtype=np.int64)
        sel = np.flatnonzero((self.created <= ts[-1]) & (self.deleted > ts[0]))
        samples, vm_index = self._vm_rows(ts, sel)
        d0 = -(-a // disk_interval) * disk_interval
        dts = np.arange(d0, b, disk_interval, dtype=np.int64)
        disks, disk_vm_index = self._disk_rows(dts)
        return Chunk(samples, disks, vm_index, disk_vm_index)

    def _live_mask(self, ts: np.ndarray, vm: np.ndarray) -> np.ndarray | None:
        """(len(ts), len(vm)) bool mask of sampled cells, or None when all are sampled."""
        created = self.created[vm]
        deleted = self.deleted[vm]
        full = (created <= ts[0]) & (deleted > ts[-1])
        gap_cols = np.flatnonzero(np.isin(vm, self.gap_vms))
        if full.all() and not any(
            g0 <= ts[-1] and g1 > ts[0] for c in gap_cols for g0, g1 in self.vms[int(vm[c])].silent
        ):
            return None
        mask: np.ndarray = (ts[:, None] >= created[None, :]) & (ts[:, None] < deleted[None, :])
        for c in gap_cols:
            for g0, g1 in self.vms[int(vm[c])].silent:
                mask[:, c] &= ~((ts >= g0) & (ts < g1))
        return mask

    def _vm_rows(self, ts: np.ndarray, sel: np.ndarray) -> tuple[SampleColumns, np.ndarray]:
        m, n = len(ts), len(sel)
        step_keys = _keys(self.seed, 4, ts)
        n1, n2 = _noise2(step_keys, self._vm_keys[sel])
        wday, wnight = hour_weights(ts)
        cpu = self.cpu.take(sel).values(wday, wnight, n1)
        mem = self.mem.take(sel).values(wday, wnight, n2)
        mask = self._live_mask(ts, sel)
        if mask is None:
            vm_index = np.tile(sel.astype(np.int32), m)
            ts_col = np.repeat(ts, n)
            cpu_col, mem_col = cpu.ravel(), mem.ravel()
        else:
            vm_index = np.broadcast_to(sel.astype(np.int32)[None, :], (m, n))[mask]
            ts_col = np.broadcast_to(ts[:, None], (m, n))[mask]
            cpu_col, mem_col = cpu[mask], mem[mask]
        return (
            SampleColumns(self.vm_ids[vm_index], ts_col, cpu_col, mem_col),
            vm_index,
        )

    def _disk_rows(self, dts: np.ndarray) -> tuple[DiskColumns, np.ndarray]:
        if len(dts) == 0 or len(self.disk_vm) == 0:
            empty = np.empty(0, dtype=np.int64)
            return (
                DiskColumns(
                    np.empty(0, dtype=object),
                    np.empty(0, dtype=object),
                    empty,
                    np.empty(0, dtype=np.float64),
                ),
                np.empty(0, dtype=np.int32),
            )
        vm = self.disk_vm
        sel = np.flatnonzero((self.created[vm] <= dts[-1]) & (self.deleted[vm] > dts[0]))
        dvm = vm[sel]
        m, n = len(dts), len(sel)
        n1, _ = _noise2(_keys(self.seed, 5, dts), self._disk_keys[sel])
        # fill0 is the fill at the start of the fleet's range, so growth is visible there.
        days = (dts - self.start).astype(np.float64)[:, None] / DAY_S
        frac = self.disk_fill0[sel][None, :] + self.disk_growth[sel][None, :] * days
        frac = np.clip(frac, 0.005, self.disk_fill_max[sel][None, :])
        frac += self.disk_jitter[sel][None, :] * n1
        used = np.round(frac * self.disk_size[sel][None, :], 3)
        mask = self._live_mask(dts, dvm)
        if mask is None:
            idx = np.tile(sel, m)
            ts_col = np.repeat(dts, n)
            used_col = used.ravel()
        else:
            idx = np.broadcast_to(sel[None, :], (m, n))[mask]
            ts_col = np.broadcast_to(dts[:, None], (m, n))[mask]
            used_col = used[mask]
        dvm_index = self.disk_vm[idx]
        return (
            DiskColumns(self.vm_ids[dvm_index], self.disk_ids[idx], ts_col, used_col),
            dvm_index,
        )


def _assign_profiles(vms: int, rng: np.random.Generator) -> list[str]:
    if vms < len(PROFILES):
        out = [PROFILES[i % len(PROFILES)] for i in range(vms)]
    else:
        counts = {p: max(1, round(MIX[p] * vms)) for p in PLANTED}
        counts["busy_db"] = max(1, round(MIX["busy_db"] * vms))
        counts["office"] = vms - sum(counts.values())
        while counts["office"] < 1:
            big = max(counts, key=lambda p: counts[p] if p != "office" else -1)
            counts[big] -= 1
            counts["office"] += 1
        out = [p for p in PROFILES for _ in range(counts[p])]
    return [out[k] for k in rng.permutation(len(out))]
