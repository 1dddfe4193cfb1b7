"""Placement over time (core/placement.py): the ownership rule over all four attributes."""

from __future__ import annotations

import datetime as dt

from cloudtally.core.ownership import OwnerEvent, periods_from_events
from cloudtally.core.placement import OPEN_END, PlaceEvent, placed_periods, placements_from_events

A = ("edu", "portal", "pool-1", "provider-a")
B = ("health", "archive", "pool-3", "provider-b")


def test_a_resize_does_not_cut_a_move_does_and_a_deletion_ends_it() -> None:
    events = [
        PlaceEvent(300, *B),  # given out of order
        PlaceEvent(100, *A),
        PlaceEvent(200, *A),  # a resize: the same place
        PlaceEvent(400, *B, deleted=True),
        PlaceEvent(500, *A),  # re-created
    ]
    got = [(p.start, p.end, p.place) for p in placements_from_events("vm", events)]
    assert got == [(100, 300, A), (300, 400, B), (500, OPEN_END, A)]


def test_a_placements_bureau_is_the_owner_of_that_time() -> None:
    events = [PlaceEvent(100, *A), PlaceEvent(200, "edu", "other", "pool-2", "provider-a"),
              PlaceEvent(300, *B), PlaceEvent(400, *B, deleted=True)]  # fmt: skip
    owners = periods_from_events("vm", [
        OwnerEvent(dt.datetime.fromtimestamp(e.ts, dt.UTC), e.bureau, e.deleted) for e in events
    ])  # fmt: skip
    for t in range(100, 450, 25):
        placed = next((p.bureau for p in placements_from_events("vm", events)
                       if p.start <= t < p.end), None)  # fmt: skip
        owner = next((o.bureau for o in owners
                      if o.start.timestamp() <= t < o.end.timestamp()), None)  # fmt: skip
        assert placed == owner, t


def test_a_month_is_cut_where_the_vm_moved() -> None:
    places = placements_from_events("vm", [PlaceEvent(0, *A), PlaceEvent(150, *B)])
    cut = placed_periods([("m1", (100, 200)), ("m2", (200, 300))], places)
    assert [(k, p.place, span) for k, p, span in cut] == [
        ("m1", A, (100, 150)), ("m1", B, (150, 200)), ("m2", B, (200, 300)),
    ]  # fmt: skip
