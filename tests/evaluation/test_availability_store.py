"""The planted fleet gives exactly the planted availability and incidents, on both stores."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from cloudtally.core.policy import load_policy
from cloudtally.evaluation.availability import Scope, assess, report
from cloudtally.policy import example_policy_text
from cloudtally.store import Store
from tests.evaluation.fleet import APRIL, DOWN, FAILED, MOVE, OUTAGE, E, S, plant, t

POLICY = load_policy(example_policy_text())
MARCH_S = APRIL - S  # two days
APRIL_S = E - APRIL  # one day
OUT = OUTAGE[1] - OUTAGE[0]
FAIL = FAILED[1] - FAILED[0]


def by_vm(store: Store, **scope: object) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(month, VM) → up, down, gap: the sum of its parts (a move cuts a month in two)."""
    a = assess(store, POLICY, Scope(S, E, **scope))  # type: ignore[arg-type]
    out: dict[tuple[str, str], tuple[int, int, int]] = {}
    for m, v in a.per_vm:
        u, d, g = out.get((str(m)[:7], v.vm_id), (0, 0, 0))
        out[(str(m)[:7], v.vm_id)] = (u + v.up_s, d + v.down_s, g + v.gap_s)
    return out


def test_planted_fleet_gives_the_planted_downtime_gaps_and_splits(store: Store) -> None:
    plant(store)
    got = by_vm(store)
    march_metered = MARCH_S - OUT
    april_metered = APRIL_S - FAIL
    assert got[("2023-03", "vm-a")] == (march_metered - 1800, 1800, OUT)
    assert got[("2023-04", "vm-a")] == (april_metered - 2700, 2700, FAIL)
    assert got[("2023-03", "vm-b")] == (march_metered, 0, OUT)  # jitter and outage: no downtime
    assert got[("2023-03", "vm-c")] == (march_metered - 1200, 1200, OUT)
    assert got[("2023-04", "vm-c")] == (april_metered - 600, 600, FAIL)
    assert got[("2023-03", "vm-d")] == (86400 - OUT - 300, 300, OUT)  # existed one day
    assert ("2023-04", "vm-d") not in got  # deleted in March: no part in April
    assert got[("2023-03", "vm-e")] == (0, 0, MARCH_S)  # never metered: all gap, no downtime

    doc = report(store, POLICY, Scope(S, E), by="pool")
    spans = sorted((i["vm_id"], i["start"], i["end"]) for i in doc["incidents"])
    assert spans == sorted(
        [
            ("vm-a", DOWN["vm-a"][0][0], APRIL),
            ("vm-a", APRIL, DOWN["vm-a"][0][1]),
            ("vm-c", *DOWN["vm-c"][0]),
            ("vm-c", *DOWN["vm-c"][1]),
            ("vm-d", *DOWN["vm-d"][0]),
        ]
    )
    pool1_march = next(
        r for r in doc["months"] if r["pool"] == "pool-1" and r["month"] == "2023-03-01"
    )
    up, down = 2 * march_metered - 1800, 1800
    assert pool1_march["up_s"] == up and pool1_march["down_s"] == down
    exact = Fraction(up, up + down) * 100
    assert pool1_march["target"]["met"] is False
    assert abs(Fraction(pool1_march["availability_pct"]) - exact) < Fraction(1, 10_000)
    assert Fraction(pool1_march["availability_pct"]) <= exact  # truncated, never rounded up


def test_a_bureau_sees_only_the_time_it_owned_the_vm(store: Store) -> None:
    plant(store)
    edu = by_vm(store, bureau="edu")
    assert {vm for _, vm in edu} == {"vm-a", "vm-b", "vm-c"}
    owned = MOVE - S - OUT  # edu owned vm-c until the move
    assert edu[("2023-03", "vm-c")] == (owned - 1200, 1200, OUT)
    assert ("2023-04", "vm-c") not in edu or edu[("2023-04", "vm-c")] == (0, 0, 0)
    health = by_vm(store, bureau="health")
    assert health[("2023-03", "vm-c")] == (APRIL - MOVE, 0, 0)
    assert health[("2023-04", "vm-c")] == (APRIL_S - FAIL - 600, 600, FAIL)


def test_incident_rows_carry_cause_and_gap_edges(store: Store) -> None:
    plant(store)
    doc = report(store, POLICY, Scope(t(3, 31), APRIL), by="system")
    inc = {(i["vm_id"], i["start"]): i for i in doc["incidents"]}
    a = inc[("vm-a", DOWN["vm-a"][0][0])]
    assert a["cause"] == "no_samples" and a["system"] == "医保结算" and a["duration_s"] == 1800
    assert a["before_gap"] is False  # the period's end, not a metering gap


def test_pool_gauges_publish_month_so_far_and_targets(store: Store) -> None:
    from cloudtally.evaluation.gauges import availability_values

    plant(store)
    ratios, targets = availability_values(store, POLICY, dt.date(2023, 3, 31), now=APRIL)
    up, down = 2 * (APRIL - S + 3600 - OUT) - 1800, 1800  # metered from 29 Mar 23:00
    assert ratios[("provider-a", "pool-1")] == up / (up + down)
    assert targets[("provider-a", "pool-1")] == 0.9995
