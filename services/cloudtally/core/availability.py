"""Availability from the meter: evidence → downtime, incidents and availability (no I/O).

A VM is *down* for the time its collector was listening (a stored heartbeat vouches
for the window, principle 8) while the VM did not answer: no sample, or an explicit
mark (node_exporter target down, libvirt domain not running). Time when no collector
was listening is a *metering gap*: neither up nor down (principle 11), and it is left
out of the availability's denominator and reported as coverage instead.

All times are epoch seconds; a span is half-open ``[start, end)``. Figures are exact
(:class:`~fractions.Fraction`); a percentage shown to a person is truncated, never
rounded up, so 99.9499… % is never shown (or compared) as 99.95 %.

The store adapter (:mod:`cloudtally.evaluation.availability`) builds one
:class:`VmEvidence` per VM and period; everything else here is arithmetic:

* :func:`assess` — one VM: up, down, gap seconds and its incidents.
* :func:`month_periods` / :func:`split_evidence` — periods in the policy zone; an
  incident across a month boundary is split at the boundary (each month its share),
  and so is one across a move (:mod:`cloudtally.core.placement`): each part is labelled
  with the bureau, system, pool and provider of its own time.
* :func:`aggregate` / :func:`group` — per system, pool, provider: Σ up / Σ (up + down),
  i.e. VM-time weighted.
* :func:`compare` — a figure against a target from the policy.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from cloudtally.core.placement import Placement, placed_periods

Span = tuple[int, int]

CAUSE_NO_SAMPLES = "no_samples"  # the collector listened, the VM sent nothing
CAUSE_TARGET_DOWN = "target_down"  # node_exporter: up == 0
CAUSE_NOT_RUNNING = "domain_not_running"  # libvirt: domain state != running
CAUSES = (CAUSE_NO_SAMPLES, CAUSE_TARGET_DOWN, CAUSE_NOT_RUNNING)


# ---- span arithmetic -------------------------------------------------------------------


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping, non-touching spans; empty ones dropped."""
    out: list[Span] = []
    for s, e in sorted(x for x in spans if x[1] > x[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Intersection of two merged span lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """``a`` without ``b`` (both merged)."""
    out: list[Span] = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def seconds(spans: Iterable[Span]) -> int:
    return sum(e - s for s, e in spans)


def answered_spans(
    sample_ts: Iterable[int], interval_s: int, *, tolerance_samples: int = 2
) -> list[Span]:
    """When a VM answered, from its sample times.

    A sample at ``ts`` answers ``[ts, ts + interval)``. A silence (from the end of one
    sample's interval to the next sample) shorter than ``tolerance_samples`` intervals
    is jitter (a late or lost scrape) and is bridged; a longer one is the VM's silence,
    counted in full.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    bridge = tolerance_samples * interval_s
    spans: list[Span] = []
    for t in sorted(set(int(x) for x in sample_ts)):
        end = t + interval_s
        if spans and t - spans[-1][1] < bridge:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((t, end))
    return spans


def gaps_to_spans(first_ts: int, last_ts: int, gaps: Iterable[Span], interval_s: int) -> list[Span]:
    """Answered spans from the store's compact form: first and last sample time and the
    silences ``(a, b)`` between consecutive samples ``a < b`` that exceed the tolerance
    (the SQL adapter finds those, so a year of samples never leaves the store)."""
    out: list[Span] = []
    cur = first_ts
    for a, b in sorted(gaps):
        out.append((cur, a + interval_s))
        cur = b
    out.append((cur, last_ts + interval_s))
    return merge(out)


# ---- the interval in force ------------------------------------------------------------

Run = tuple[int, int]  # (first sample time, the interval the samples declare from then on)


def interval_at(runs: Sequence[Run], t: int, default: int) -> int:
    """The sample interval in force at ``t``: that of the last run starting at or before
    it (before the first run: the first run's; no runs: ``default``).

    Why: a collector whose scrape interval changes (300 s → 60 s) is expected at the new
    interval from the change on; the largest interval ever seen over-covers before a
    growth and leaves false downtime at the live edge after a shrink."""
    if not runs:
        return default
    i = bisect_right(runs, (t, 1 << 62)) - 1
    return runs[max(i, 0)][1]


Bucket = tuple[int, int, int]  # a source's samples of one interval in one hour: first, last, iv


def source_interval_at(
    buckets: Sequence[Bucket], t: int, default: int, longest: int | None = None
) -> int:
    """The interval a source is scraping at ``t``: the smallest among the intervals its
    samples declared around ``t`` (a bucket, sorted by first sample, is in force from its
    first sample to its last plus its interval); between them, the last one begun; none
    at all, ``default``. ``longest``: the buckets' largest interval (computed if None).

    Why the smallest: one source may carry VMs at 900 s and at 60 s; its beat proves only
    what it looked at up to ``data_until``, and it looks again one short step later."""
    if not buckets:
        return default
    if longest is None:
        longest = max(b[2] for b in buckets)
    i = bisect_right(buckets, (t, 1 << 62, 0))
    live: list[int] = []
    j = i - 1
    while j >= 0 and buckets[j][0] >= t - 3600 - longest:  # a bucket spans ≤ one hour
        if buckets[j][1] + buckets[j][2] >= t:
            live.append(buckets[j][2])
        j -= 1
    if live:
        return min(live)
    return buckets[i - 1][2] if i else buckets[0][2]


def heard_spans(beats: Iterable[Span], buckets: Sequence[Bucket], default: int) -> list[Span]:
    """When a source listened: each beat ``(data_from, data_until)`` covers up to
    ``data_until`` plus the interval the source was scraping at then (its next look is
    due no earlier), never the largest interval it ever declared."""
    top = max((b[2] for b in buckets), default=default)
    return merge((a, b + source_interval_at(buckets, b, default, top)) for a, b in beats)


def answered_from_silences(
    first: int,
    last: int,
    silences: Iterable[tuple[int, int]],
    runs: Sequence[Run],
    default: int,
    *,
    created: int | None = None,
    tolerance_samples: int = 2,
) -> list[Span]:
    """Answered spans from the first and last sample and the silences ``(a, b)`` between
    consecutive samples that exceed the tolerance at the interval in force at ``a``.

    Each sample answers its own interval. The creation edge: a VM is not expected to
    answer before its first scrape, so the time from ``created`` to the first sample is
    judged like a silence between two samples — shorter than ``tolerance_samples + 1``
    intervals it counts as answered; longer, it is down in full."""
    out: list[Span] = []
    start = first
    iv0 = interval_at(runs, first, default)
    if created is not None and created <= first < created + (tolerance_samples + 1) * iv0:
        start = created
    for a, b in sorted(silences):
        out.append((start, a + interval_at(runs, a, default)))
        start = b
    out.append((start, last + interval_at(runs, last, default)))
    return merge(out)


# ---- one VM ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DownMark:
    """An explicit "does not answer" observation over a span, with its cause."""

    start: int
    end: int
    cause: str


@dataclass(frozen=True)
class VmEvidence:
    """What the store knows of one VM over one period (every list merged or mergeable).

    ``exists``: when the VM existed and is in scope (for a bureau: when it owned it);
    ``listening``: when a collector of the VM's source was vouched for by heartbeats;
    ``answered``: when the VM answered (from samples, :func:`answered_spans`);
    ``marks``: explicit down observations (they win over a sample in the same time).
    """

    vm_id: str
    exists: Sequence[Span]
    listening: Sequence[Span]
    answered: Sequence[Span]
    marks: Sequence[DownMark] = ()

    def clipped(self, period: Span) -> VmEvidence:
        p = [period]
        return VmEvidence(
            self.vm_id,
            intersect(merge(self.exists), p),
            intersect(merge(self.listening), p),
            intersect(merge(self.answered), p),
            tuple(
                DownMark(max(m.start, period[0]), min(m.end, period[1]), m.cause)
                for m in self.marks
                if m.end > period[0] and m.start < period[1]
            ),
        )


@dataclass(frozen=True)
class Incident:
    """One unbroken downtime of one VM.

    ``after_gap`` / ``before_gap``: the downtime touches a metering gap (or the edge of
    the VM's existence in the period), so the true outage may be longer than measured.
    """

    vm_id: str
    start: int
    end: int
    cause: str
    after_gap: bool = False
    before_gap: bool = False

    @property
    def duration_s(self) -> int:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {
            "vm_id": self.vm_id,
            "start": self.start,
            "end": self.end,
            "duration_s": self.duration_s,
            "cause": self.cause,
            "after_gap": self.after_gap,
            "before_gap": self.before_gap,
        }


@dataclass(frozen=True)
class VmAvailability:
    vm_id: str
    period: Span
    up_s: int
    down_s: int
    gap_s: int
    incidents: tuple[Incident, ...] = ()
    # where the VM was over ``period`` (core.placement: bureau, system, pool, provider)
    labels: tuple[tuple[str, str], ...] = ()

    def label(self, by: str) -> str:
        """The VM's ``by`` (vm_id, bureau, system, pool, provider) over this period."""
        if by == "vm_id":
            return self.vm_id
        return next((v for k, v in self.labels if k == by), "")

    @property
    def measured_s(self) -> int:
        return self.up_s + self.down_s

    @property
    def availability(self) -> Fraction | None:
        """up / (up + down); None when nothing was measured (all gap)."""
        return Fraction(self.up_s, self.measured_s) if self.measured_s else None


def assess(ev: VmEvidence, period: Span | None = None) -> VmAvailability:
    """Up, down and gap seconds of one VM, and its incidents, within ``period``."""
    if period is not None:
        ev = ev.clipped(period)
    exists = merge(ev.exists)
    p = period or ((exists[0][0], exists[-1][1]) if exists else (0, 0))
    metered = intersect(exists, merge(ev.listening))
    marked = merge((m.start, m.end) for m in ev.marks)
    up = subtract(intersect(metered, merge(ev.answered)), marked)
    down = subtract(metered, up)
    gap = subtract(exists, metered)
    incidents = tuple(_incidents(ev.vm_id, down, ev.marks, metered))
    return VmAvailability(ev.vm_id, p, seconds(up), seconds(down), seconds(gap), incidents)


def _incidents(
    vm_id: str, down: Sequence[Span], marks: Sequence[DownMark], metered: Sequence[Span]
) -> Iterable[Incident]:
    edges_start = {s for s, _ in metered}
    edges_end = {e for _, e in metered}
    for s, e in down:
        cause = CAUSE_NO_SAMPLES
        best = 0
        for m in marks:
            overlap = min(e, m.end) - max(s, m.start)
            if overlap > best:
                best, cause = overlap, m.cause
        yield Incident(vm_id, s, e, cause, s in edges_start, e in edges_end)


# ---- periods ---------------------------------------------------------------------------


def month_periods(start: int, end: int, tz: str | ZoneInfo) -> list[tuple[dt.date, Span]]:
    """Local calendar months overlapping ``[start, end)``, each clipped to it."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = dt.datetime.fromtimestamp(start, zone)
    month = dt.date(local.year, local.month, 1)
    out: list[tuple[dt.date, Span]] = []
    while True:
        m0 = int(dt.datetime(month.year, month.month, 1, tzinfo=zone).timestamp())
        nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        m1 = int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=zone).timestamp())
        if m0 >= end:
            break
        s, e = max(start, m0), min(end, m1)
        if s < e:
            out.append((month, (s, e)))
        month = nxt
    return out


def split_evidence(
    ev: VmEvidence, periods: Sequence[tuple[Any, Span]]
) -> list[tuple[Any, VmAvailability]]:
    """:func:`assess` per period: an incident crossing a boundary counts in each period
    for the part inside it (flagged neither ``after_gap`` nor ``before_gap`` there unless
    a gap really touches it)."""
    out = []
    for key, span in periods:
        va = assess(ev, span)
        fixed = tuple(
            Incident(
                i.vm_id,
                i.start,
                i.end,
                i.cause,
                i.after_gap and i.start != span[0],
                i.before_gap and i.end != span[1],
            )
            for i in va.incidents
        )
        out.append((key, VmAvailability(va.vm_id, span, va.up_s, va.down_s, va.gap_s, fixed)))
    return out


def split_placed(
    ev: VmEvidence, periods: Sequence[tuple[Any, Span]], placements: Sequence[Placement]
) -> list[tuple[Any, VmAvailability]]:
    """:func:`split_evidence` per period *and* place: a period is cut where the VM moved
    (bureau, system, pool or provider), each part labelled with the place of its time;
    parts the VM was not in scope for (another bureau's time) are left out."""
    exists = merge(ev.exists)
    same = uniform(ev, exists)
    out = []
    for key, place, span in placed_periods(periods, placements):
        inside = intersect(exists, [span])
        if not inside:
            continue
        if same is not None:  # the answer assess() would give, without the span arithmetic
            n = seconds(inside)
            up, gap = (n, 0) if same == "up" else (0, n)
            out.append((key, VmAvailability(ev.vm_id, span, up, 0, gap, (), place.labels())))
            continue
        for k, va in split_evidence(ev, [(key, span)]):
            out.append((k, replace(va, labels=place.labels())))
    return out


def uniform(ev: VmEvidence, exists: Sequence[Span] | None = None) -> str | None:
    """``"up"`` when every second the VM existed was metered and answered with no down
    mark, ``"gap"`` when none of it was metered; else None. Either holds for every
    period alike, so a VM's months need no span arithmetic each (most VMs of a fleet
    are one or the other; the province's year card assessed 225,000 VM-months).
    """
    exists = merge(ev.exists) if exists is None else exists
    metered = intersect(exists, merge(ev.listening))
    if not metered:
        return "gap"
    if metered == exists and not ev.marks and intersect(exists, merge(ev.answered)) == exists:
        return "up"
    return None


# ---- aggregation and targets -----------------------------------------------------------

PCT_PLACES = Decimal("0.0001")


def pct_shown(x: Fraction | None, places: Decimal = PCT_PLACES) -> Decimal | None:
    """A fraction as a percentage, truncated to ``places`` (never rounds up)."""
    if x is None:
        return None
    exact = Decimal(x.numerator * 100) / Decimal(x.denominator)
    return exact.quantize(places, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Figure:
    """Availability of a set of VMs over a period: Σ up / Σ (up + down)."""

    up_s: int = 0
    down_s: int = 0
    gap_s: int = 0
    vms: int = 0
    incidents: int = 0

    @property
    def availability(self) -> Fraction | None:
        m = self.up_s + self.down_s
        return Fraction(self.up_s, m) if m else None

    @property
    def coverage(self) -> Fraction | None:
        """Share of the VMs' existence that was metered (the rest is a metering gap)."""
        t = self.up_s + self.down_s + self.gap_s
        return Fraction(self.up_s + self.down_s, t) if t else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "availability_pct": pct_shown(self.availability),
            "coverage_pct": pct_shown(self.coverage),
            "up_s": self.up_s,
            "down_s": self.down_s,
            "gap_s": self.gap_s,
            "vms": self.vms,
            "incidents": self.incidents,
        }


def aggregate(items: Iterable[VmAvailability]) -> Figure:
    """Σ over the items; ``vms`` counts distinct VMs (a VM split by month or by a move
    counts once)."""
    up = down = gap = inc = 0
    vms: set[str] = set()
    for v in items:
        up += v.up_s
        down += v.down_s
        gap += v.gap_s
        vms.add(v.vm_id)
        inc += len(v.incidents)
    return Figure(up, down, gap, len(vms), inc)


def group(
    items: Iterable[VmAvailability], key: Callable[[VmAvailability], str] | Mapping[str, str]
) -> dict[str, Figure]:
    """Figures per group; ``key`` maps a VM (or its id) to the group's name."""
    buckets: dict[str, list[VmAvailability]] = defaultdict(list)
    for v in items:
        k = key.get(v.vm_id, "") if isinstance(key, Mapping) else key(v)
        buckets[k].append(v)
    return {k: aggregate(vs) for k, vs in sorted(buckets.items())}


@dataclass(frozen=True)
class TargetCheck:
    target_pct: Decimal
    measured_pct: Decimal | None  # truncated for display
    met: bool | None  # None: nothing measured
    shortfall_pct: Decimal  # target − measured (0 when met), truncated

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_pct": self.target_pct,
            "measured_pct": self.measured_pct,
            "met": self.met,
            "shortfall_pct": self.shortfall_pct,
        }


def below(x: Fraction, pct: Decimal) -> bool:
    """Exactly: is the fraction ``x`` strictly below ``pct`` %?"""
    return x * 100 < Fraction(pct)


def compare(fig: Figure, target_pct: Decimal) -> TargetCheck:
    """The figure against a target; the comparison uses the exact figure."""
    a = fig.availability
    if a is None:
        return TargetCheck(target_pct, None, None, Decimal(0))
    met = not below(a, target_pct)
    short = Decimal(0)
    if not met:
        gap = Fraction(target_pct) - a * 100
        short = (Decimal(gap.numerator) / Decimal(gap.denominator)).quantize(
            PCT_PLACES, rounding=ROUND_DOWN
        )
    return TargetCheck(target_pct, pct_shown(a), met, short)


@dataclass
class Assessment:
    """Everything one run computed: per VM and period, with the VMs' attributes."""

    per_vm: list[tuple[Any, VmAvailability]] = field(default_factory=list)

    def figures(self, by: str | None = None) -> dict[tuple[Any, str], Figure]:
        """(period key, group) → figure; ``by`` names an attribute (vm_id, system, pool,
        provider, bureau: each item's own, of its time) or None for one per period."""
        buckets: dict[tuple[Any, str], list[VmAvailability]] = defaultdict(list)
        for key, v in self.per_vm:
            buckets[(key, "" if by is None else v.label(by))].append(v)
        return {k: aggregate(vs) for k, vs in sorted(buckets.items(), key=lambda kv: str(kv[0]))}

    def incidents(self) -> list[tuple[Any, Incident]]:
        return [(k, i) for k, i, _ in self.placed_incidents()]

    def placed_incidents(self) -> list[tuple[Any, Incident, VmAvailability]]:
        """(period key, incident, the item it belongs to: its VM's place at the time)."""
        return sorted(
            ((k, i, v) for k, v in self.per_vm for i in v.incidents),
            key=lambda kiv: (kiv[1].start, kiv[1].vm_id),
        )
