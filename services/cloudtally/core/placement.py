"""Where a VM was over time: its bureau, system, pool and provider per period.

The inventory history carries a VM's full state after each event; from one event to
the next the VM is where the earlier event puts it, and from a ``deleted`` event to the
next event it is nowhere. Consecutive events with the same place merge (a resize does
not split a period). This is :mod:`cloudtally.core.ownership`'s rule over all four
attributes, so a placement's bureau is always the owner of that time: a read model that
labels a past time (an incident, a downtime minute) takes the place of that time from
here, never the VM's latest one, and a bureau's scope (its ownership periods) and its
labels can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

ATTRIBUTES = ("bureau", "system", "pool", "provider")
OPEN_END = 4_294_967_295  # UInt32 epoch max: "still there"
K = TypeVar("K")


@dataclass(frozen=True)
class PlaceEvent:
    """One inventory event as placement sees it (epoch seconds)."""

    ts: int
    bureau: str
    system: str
    pool: str
    provider: str
    deleted: bool = False

    @property
    def place(self) -> tuple[str, str, str, str]:
        return (self.bureau, self.system, self.pool, self.provider)


@dataclass(frozen=True)
class Placement:
    """The VM was at (bureau, system, pool, provider) over [start, end)."""

    vm_id: str
    start: int
    end: int
    bureau: str
    system: str
    pool: str
    provider: str

    def labels(self) -> tuple[tuple[str, str], ...]:
        """(attribute, value) pairs, with ``vm_id``: what a read model groups by."""
        return (("vm_id", self.vm_id), *zip(ATTRIBUTES, self.place, strict=True))

    @property
    def place(self) -> tuple[str, str, str, str]:
        return (self.bureau, self.system, self.pool, self.provider)


def placements_from_events(vm_id: str, events: Iterable[PlaceEvent]) -> list[Placement]:
    """Merged placement periods of one VM from its inventory events (any order)."""
    out: list[Placement] = []
    current: tuple[tuple[str, str, str, str] | None, int] | None = None  # (place, since)
    for ev in sorted(events, key=lambda e: e.ts):
        place = None if ev.deleted or not ev.bureau else ev.place
        if current is not None and current[0] == place:
            continue
        if current is not None and current[0] is not None:
            out.append(Placement(vm_id, current[1], ev.ts, *current[0]))
        current = (place, ev.ts)
    if current is not None and current[0] is not None:
        out.append(Placement(vm_id, current[1], OPEN_END, *current[0]))
    return out


def placed_periods(
    periods: Sequence[tuple[K, tuple[int, int]]], placements: Sequence[Placement]
) -> list[tuple[K, Placement, tuple[int, int]]]:
    """Each period (a month, say) cut where the VM's place changed: (key, place, span) for
    every part of a period the VM was placed in, in time order."""
    out = []
    for key, (s, e) in periods:
        for p in placements:
            lo, hi = max(s, p.start), min(e, p.end)
            if lo < hi:
                out.append((key, p, (lo, hi)))
    return out
