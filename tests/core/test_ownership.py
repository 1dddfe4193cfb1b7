"""Ownership periods from inventory events: moves, deletions, re-creations."""

from __future__ import annotations

import datetime as dt

from cloudtally.core.ownership import (
    FOREVER,
    OwnerEvent,
    owned_spans,
    owner_at,
    owners_during,
    periods_from_events,
    sole_owner,
)

D = [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in range(1, 31)]


def test_a_vm_that_moves_twice_has_three_periods() -> None:
    events = [
        OwnerEvent(D[10], "x"),
        OwnerEvent(D[0], "y"),
        OwnerEvent(D[5], "y"),  # an update without a move does not split the period
        OwnerEvent(D[20], "y"),
    ]
    periods = periods_from_events("vm", events)
    assert [(p.bureau, p.start, p.end) for p in periods] == [
        ("y", D[0], D[10]),
        ("x", D[10], D[20]),
        ("y", D[20], FOREVER),
    ]
    assert owner_at(periods, D[0] - dt.timedelta(seconds=1)) is None
    assert owner_at(periods, D[9]) == "y"
    assert owner_at(periods, D[10]) == "x"
    assert owner_at(periods, D[25]) == "y"
    assert sole_owner(periods, D[1], D[10]) == "y"
    assert sole_owner(periods, D[1], D[11]) is None  # spans the move
    assert owners_during(periods, D[9], D[12]) == {"x", "y"}
    assert sole_owner(periods, D[12], D[14]) == "x"
    assert sole_owner(periods, D[0] - dt.timedelta(days=1), D[2]) == "y"  # created inside
    assert owned_spans(periods, "y", D[5], D[25]) == [(D[5], D[10]), (D[20], D[25])]


def test_deleted_means_owned_by_no_one_until_recreated() -> None:
    events = [
        OwnerEvent(D[0], "y"),
        OwnerEvent(D[3], "y", deleted=True),
        OwnerEvent(D[7], "y"),
    ]
    periods = periods_from_events("vm", events)
    assert [(p.start, p.end) for p in periods] == [(D[0], D[3]), (D[7], FOREVER)]
    assert owner_at(periods, D[5]) is None
    assert sole_owner(periods, D[0], D[8]) == "y"
    assert owner_at(periods, D[4]) is None


def test_a_period_when_the_vm_did_not_exist_goes_to_the_nearest_owner() -> None:
    periods = periods_from_events(
        "vm",
        [OwnerEvent(D[2], "y"), OwnerEvent(D[10], "x"), OwnerEvent(D[15], "x", deleted=True)],
    )
    assert sole_owner(periods, D[20], D[25]) == "x"  # billed after deletion: the last owner
    assert sole_owner(periods, D[0], D[1]) == "y"  # billed before creation: the first owner
    assert sole_owner(periods_from_events("vm", []), D[0], D[1]) is None
