"""Raw-data retention: which monthly partitions of the raw tables may be dropped.

Raw samples are the truth everything is derived from (architecture principle 1), so a
month of them may go only when nothing derived from it can still need them. Rollups,
bill lines, the issued months and the audit ledger are kept forever; only the raw
tables (CPU/memory and disk samples, observed allocations, the rollup queue) age out.
ClickHouse 18.16 has no TTL, so retention drops whole partitions, which are UTC months
(``toYYYYMM(ts)``).

A UTC month is dropped only when **all** of these hold (else it is held, with the
reason):

1. **age** — every local billing month it overlaps ended before the kept window: the
   current local month and the ``keep_months`` whole months before it. With a zone east
   of UTC a UTC month also holds the first hours of the next local month, so the raw
   data kept is at least ``keep_months`` whole months and at most one more;
2. **issued** — every local month it overlaps that has metered usage is closed and
   issued (a month still open can be re-rated from late data, whose rollups read the
   raw samples; a month before metering began has nothing to issue);
3. **rolled up** — no hour of it is still queued for the rollup step (the rollup
   watermark has passed every queued version);
4. **official calendar** — no hour of it is weighted provisionally (its year had no
   official working-day schedule): when the schedule is supplied those hours are
   re-derived from the raw samples (``Derivation.requeue_supplied_years``);
5. **owned** — it holds no orphan samples (VM ids no inventory has announced yet): when
   the VM's inventory arrives, those hours are rolled up from the raw samples.

A restatement of a month whose raw samples are gone re-rates from the kept rollups;
re-deriving the rollups themselves is what needs the raw samples, hence rules 3 and 4.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

RAW_TABLES = ("samples", "disk_samples", "observed_allocation", "rollup_queue")


def add_months(month: dt.date, n: int) -> dt.date:
    """First day of the month ``n`` months after ``month``'s (n may be negative)."""
    k = month.year * 12 + month.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def partition_month(partition: str) -> dt.date:
    """``'202210'`` (toYYYYMM) → 2022-10-01."""
    if len(partition) != 6 or not partition.isdigit():
        raise ValueError(f"not a monthly partition id: {partition!r}")
    return dt.date(int(partition[:4]), int(partition[4:]), 1)


def partition_span(month: dt.date) -> tuple[int, int]:
    """The UTC month as epoch seconds [start, end)."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    nxt = add_months(month, 1)
    end = dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)
    return int(start.timestamp()), int(end.timestamp())


def local_months(month: dt.date, zone: ZoneInfo) -> list[dt.date]:
    """The local billing months a UTC month's instants fall in (one or two)."""
    t0, t1 = partition_span(month)
    first = dt.datetime.fromtimestamp(t0, zone).date().replace(day=1)
    last = dt.datetime.fromtimestamp(t1 - 1, zone).date().replace(day=1)
    out = [first]
    while out[-1] < last:
        out.append(add_months(out[-1], 1))
    return out


def kept_from(today: dt.date, keep_months: int) -> dt.date:
    """First local month kept: ``keep_months`` whole months before today's month."""
    if keep_months < 1:
        raise ValueError("raw retention keeps at least one whole month")
    return add_months(today.replace(day=1), -keep_months)


@dataclass(frozen=True)
class MonthFacts:
    """What the store says about one UTC month of raw data."""

    month: dt.date
    local_months: tuple[dt.date, ...]
    unissued: tuple[dt.date, ...]  # overlapped local months not closed and issued
    pending_hours: int  # queued for the rollup step, not yet rolled up
    provisional_hours: int  # weighted by the weekday rule (no official schedule)
    orphan_vms: int = 0  # VM ids with samples that no inventory event has announced


@dataclass(frozen=True)
class Decision:
    month: dt.date
    drop: bool
    reason: str


def decide(facts: MonthFacts, kept: dt.date) -> Decision:
    """Drop or hold one UTC month (rules in the module docstring, checked in order)."""
    m = facts.month
    if max(facts.local_months) >= kept:
        return Decision(m, False, f"kept: overlaps local months from {kept:%Y-%m} on")
    if facts.unissued:
        months = ", ".join(f"{x:%Y-%m}" for x in facts.unissued)
        return Decision(m, False, f"held: local month {months} not closed and issued")
    if facts.pending_hours:
        return Decision(m, False, f"held: {facts.pending_hours} hours still to roll up")
    if facts.provisional_hours:
        return Decision(
            m,
            False,
            f"held: {facts.provisional_hours} hours weighted provisionally (no official "
            "calendar for their year); re-derived from raw samples once it is supplied",
        )
    if facts.orphan_vms:
        return Decision(
            m,
            False,
            f"held: samples of {facts.orphan_vms} VMs no inventory has announced (orphans); "
            "rolled up from raw samples once their inventory arrives",
        )
    return Decision(m, True, "dropped: issued, rolled up, official calendar, older than kept")
