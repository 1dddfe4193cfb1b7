"""Ownership over time: which bureau owned a VM at an instant, or over a period.

A VM belongs to a bureau for periods, not for ever (architecture principle 7).
The inventory history (``vm_inventory``: one row per event, each carrying the
VM's full state after it) is the source of truth: from one event to the next
the VM belongs to the bureau the earlier event names; from a ``deleted`` event
to the next event (a re-creation) it belongs to no one. Consecutive events with
the same owner merge into one period, so a VM that moves Y → X → Y has three
periods (Y, X, Y) and a move never hands history to the new owner.

The rules every read model applies (the store side is
:mod:`cloudtally.queries.ownership`, which computes the same periods in SQL):

* an instant (a sample) belongs to :func:`owner_at` that instant;
* a period (an invoice line, a finding) belongs to the bureau that was the only
  owner of the VM during it (:func:`sole_owner`; creation or deletion inside the
  period does not matter; a line for time the VM did not exist goes to the
  owner nearest in time); a line that spans a move belongs to no single bureau
  and only the buyer (admin, auditor) sees it;
* rows the pipeline derives per hour or per local day (utilization rollups, bill
  lines) carry the owner the rollup computed from the same history (the owner
  at the end of the hour; a day's row the owner at the end of its last hour).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FOREVER = dt.datetime(2106, 2, 7, 6, 28, 15, tzinfo=dt.UTC)  # UInt32 epoch max: "still owned"


@dataclass(frozen=True)
class OwnerEvent:
    """One inventory event as ownership sees it: when, who, and whether it deleted."""

    ts: dt.datetime
    bureau: str
    deleted: bool = False


@dataclass(frozen=True)
class OwnershipPeriod:
    """The VM belonged to ``bureau`` over [start, end); end is FOREVER while it still does."""

    vm_id: str
    bureau: str
    start: dt.datetime
    end: dt.datetime

    @property
    def open(self) -> bool:
        return self.end >= FOREVER

    def covers(self, t: dt.datetime) -> bool:
        return self.start <= t < self.end


def periods_from_events(vm_id: str, events: Iterable[OwnerEvent]) -> list[OwnershipPeriod]:
    """Merged ownership periods of one VM from its inventory events (any order)."""
    ordered = sorted(events, key=lambda e: e.ts)
    out: list[OwnershipPeriod] = []
    current: tuple[str, dt.datetime] | None = None  # (owner, since)
    for ev in ordered:
        owner = "" if ev.deleted else ev.bureau
        if current is not None and current[0] == owner:
            continue
        if current is not None and current[0]:
            out.append(OwnershipPeriod(vm_id, current[0], current[1], ev.ts))
        current = (owner, ev.ts)
    if current is not None and current[0]:
        out.append(OwnershipPeriod(vm_id, current[0], current[1], FOREVER))
    return out


def owner_at(periods: Sequence[OwnershipPeriod], t: dt.datetime) -> str | None:
    """The bureau that owned the VM at instant t, or None (not yet created, or deleted)."""
    for p in periods:
        if p.covers(t):
            return p.bureau
    return None


def owners_during(
    periods: Sequence[OwnershipPeriod], start: dt.datetime, end: dt.datetime
) -> set[str]:
    """Every bureau that owned the VM at some time in [start, end) (an empty period: at start)."""
    if end <= start:
        owner = owner_at(periods, start)
        return {owner} if owner else set()
    return {p.bureau for p in periods if p.start < end and start < p.end}


def sole_owner(
    periods: Sequence[OwnershipPeriod], start: dt.datetime, end: dt.datetime
) -> str | None:
    """The bureau a period belongs to: the only one that owned the VM during it, else None.

    A VM created or deleted inside the period still belongs to its one owner; a
    period that spans a move belongs to no single bureau (the buyer sees it); a
    period when the VM did not exist at all (billed after its deletion) belongs to
    the owner nearest in time (:func:`nearest_owner`).
    """
    owners = owners_during(periods, start, end)
    if not owners:  # billed while the VM did not exist: whose VM it was (or became)
        return nearest_owner(periods, start, end)
    return next(iter(owners)) if len(owners) == 1 else None


def nearest_owner(
    periods: Sequence[OwnershipPeriod], start: dt.datetime, end: dt.datetime
) -> str | None:
    """For a period no one owned the VM in: the last owner before it, else the first after."""
    before = [p for p in periods if p.end <= start]
    if before:
        return max(before, key=lambda p: p.end).bureau
    after = [p for p in periods if p.start >= end]
    return min(after, key=lambda p: p.start).bureau if after else None


def owned_spans(
    periods: Sequence[OwnershipPeriod], bureau: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of [start, end) during which ``bureau`` owned the VM, in time order."""
    spans = []
    for p in periods:
        if p.bureau != bureau:
            continue
        lo, hi = max(p.start, start), min(p.end, end)
        if lo < hi:
            spans.append((lo, hi))
    return sorted(spans)


def ever_owned(periods: Sequence[OwnershipPeriod], bureau: str) -> bool:
    return any(p.bureau == bureau for p in periods)
