"""The per-VM month totals equal the current bill lines exactly, on both engines: after the
first rating, after a re-rate that moves a day to another system and rates a VM to
nothing, after a re-rate of one VM that changes its owner, and for a VM that moves
edu → health → edu (scope over time holds on the totals, the statements and the
console's drill-down built on them)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.billing import drill
from cloudtally.billing import rate as billing
from cloudtally.billing import statements as st
from cloudtally.store import Store
from tests.billing import fleet
from tests.billing.test_rate import _wait_mutations

T0 = dt.datetime(2023, 1, 15, tzinfo=fleet.SH)
T1 = dt.datetime(2023, 1, 17, tzinfo=fleet.SH)
JAN, FEB = dt.date(2023, 1, 1), dt.date(2023, 2, 1)
Z = Decimal("0.00")

Key = tuple[str, str, str, str, str, str]


def from_lines(store: Store) -> dict[Key, tuple[int, int, Decimal, Decimal, Decimal, int]]:
    """The totals computed here, in Python, from the current lines (what they must equal)."""
    rows = store.rows(
        f"""SELECT toString(month), bureau, system, vm_id, pool, provider, day, list_amount,
            after_discount, after_cut, month_provisional
        FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s AND {billing.current_filter()}""",
        {"d0": dt.date(2022, 1, 1), "d1": dt.date(2027, 1, 1)},
    )
    acc: dict[Key, list[Any]] = defaultdict(lambda: [0, set(), Z, Z, Z, 0])
    for r in rows:
        a = acc[tuple(r[:6])]  # type: ignore[index]
        a[0] += 1
        a[1].add(r[6])
        a[2] += Decimal(r[7])
        a[3] += Decimal(r[8])
        a[4] += Decimal(r[9])
        a[5] += int(r[10])
    return {k: (v[0], len(v[1]), v[2], v[3], v[4], v[5]) for k, v in acc.items()}


def stored(store: Store) -> dict[Key, tuple[int, int, Decimal, Decimal, Decimal, int]]:
    rows = store.rows(
        """SELECT toString(month), bureau, system, vm_id, pool, provider, lines, days,
            list_amount, after_discount, after_cut, provisional_lines
        FROM bill_totals FINAL WHERE lines > 0"""
    )
    out = {
        tuple(r[:6]): (int(r[6]), int(r[7]), Decimal(r[8]), Decimal(r[9]), Decimal(r[10]),
                       int(r[11]))
        for r in rows
    }  # fmt: skip
    assert len(out) == len(rows), "one live row per key"
    return out  # type: ignore[return-value]


def _usage(store: Store, vm: str, days: tuple[int, ...], **changes: Any) -> None:
    """Re-deliver a VM's rollup rows of those days with ``changes`` (a newer version)."""
    rows = [dict(r, version=2, **changes) for r in fleet.fleet_rows()
            if r["vm_id"] == vm and any(fleet.local_hour(d, 0) <= r["hour"] <
                                        fleet.local_hour(d, 0) + 86400 for d in days)]  # fmt: skip
    fleet.insert_usage(store, rows)


def test_totals_equal_the_lines_through_rerates(store: Store) -> None:
    pol = fleet.policy()
    fleet.insert_usage(store, fleet.fleet_rows())
    billing.rate_period(store, pol, T0, T1, run_kind="stream")
    first = stored(store)
    assert first == from_lines(store) and len(first) == 3
    assert sum(v[4] for v in first.values()) == Decimal("41.23")  # the hand-computed bill

    # vm3's Jan 16 now belongs to system s9; vm2 has no usage any more (rates to nothing)
    _usage(store, "vm3", (16,), system="s9")
    store.execute("ALTER TABLE usage_hourly DELETE WHERE vm_id = 'vm2'")
    _wait_mutations(store)
    billing.rate_period(store, pol, T0, T1, run_kind="rerate", reason="test")
    after = stored(store)
    assert after == from_lines(store)
    assert not [k for k in after if k[3] == "vm2"], "a VM rated to nothing keeps no total"
    vm3 = {k[2]: v[4] for k, v in after.items() if k[3] == "vm3"}
    assert vm3 == {"s3": Decimal("3.24"), "s9": Decimal("3.24")}

    # only vm1 re-rated, and its Jan 16 now owned by b2: two owners' rows, others untouched
    _usage(store, "vm1", (16,), bureau="b2")
    billing.rate_period(store, pol, T0, T1, vm_ids=["vm1"], run_kind="rerate", reason="move")
    moved = stored(store)
    assert moved == from_lines(store)
    assert {k[1]: v[4] for k, v in moved.items() if k[3] == "vm1"} == {
        "b1": Decimal("13.20"), "b2": Decimal("18.48"),
    }  # fmt: skip
    assert {k: v for k, v in moved.items() if k[3] != "vm1"} == {
        k: v for k, v in after.items() if k[3] != "vm1"
    }

    # the read models over the totals: statements, budget, drill-down, as of the data
    s = st.statement(store, pol, month=JAN, by="bureau")
    assert {r["bureau"]: r["after_cut"] for r in s.rows} == {
        "b1": Decimal("13.20") + Decimal("6.48"), "b2": Decimal("18.48"),
    }  # fmt: skip
    assert sum(r["lines"] for r in s.rows) == sum(v[0] for v in moved.values())
    b2 = st.budget_status(store, pol, 2023, bureau="b2")
    assert [(b.scope, b.forecast.accrued) for b in b2] == [("b2", Decimal("18.48"))]
    n, vms = drill.vm_totals(store, JAN, FEB, bureau="b2")
    assert n == 1 and [(v["vm_id"], v["amount"], v["days"]) for v in vms] == [
        ("vm1", Decimal("18.48"), 1)
    ]
    assert drill.last_billed_day(store, bureau="b2") == dt.date(2023, 1, 16)
    # a period that is not whole months is answered from the lines, the same way
    n, part = drill.vm_totals(store, dt.date(2023, 1, 16), dt.date(2023, 1, 17), bureau="b1")
    assert [(v["vm_id"], v["amount"]) for v in part] == [("vm3", Decimal("3.24"))]


def test_the_migration_backfill_equals_the_refresh(store: Store) -> None:
    """A store rated before the totals existed gets them from migration 0110's backfill."""
    from cloudtally.store.migrate import available

    fleet.insert_usage(store, fleet.fleet_rows())
    billing.rate_period(store, fleet.policy(), T0, T1)
    expected = stored(store)
    store.execute("TRUNCATE TABLE bill_totals")
    assert stored(store) == {}
    (m,) = [m for m in available() if m.version == 110]
    from cloudtally.store.base import split_statements

    for statement in split_statements(m.sql)[1:]:
        store.execute(statement)
    assert stored(store) == expected == from_lines(store)


# ---- scope over time on the totals: a VM that moves edu → health → edu ------------------


@pytest.fixture
def moved(store: Store, tmp_path: Path) -> Any:
    from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
    from tests.api.fleet import policy
    from tests.security.ownership_fleet import MOVER, seed_moving_fleet

    pol = policy()
    seed_moving_fleet(store, step=3600)
    start, end = dt.datetime(2026, 1, 1, tzinfo=fleet.SH), dt.datetime(2026, 1, 31, tzinfo=fleet.SH)
    d0, d1 = start.date(), end.date()
    version = pol.version_at(start)
    h0, h1 = hours_of_days(d0, d1, "Asia/Shanghai")
    vms = ["vm-edu", "vm-health", MOVER]
    recompute_hours(store, vms, h0, h1, version.calendar, version.utilization)
    recompute_days(store, vms, d0, d1, version.calendar, version.utilization)
    billing.rate_period(store, pol, start, end)
    return store, pol, tmp_path


def _mover_lines(store: Store, bureau: str) -> Decimal:
    v = store.scalar(
        f"""SELECT sum(after_cut) FROM bill_lines WHERE vm_id = 'vm-move' AND bureau = %(b)s
        AND day >= %(d0)s AND day < %(d1)s AND {billing.current_filter()}""",
        {"b": bureau, "d0": dt.date(2026, 1, 1), "d1": dt.date(2026, 2, 1)},
    )
    return Decimal(v).quantize(Z)


def test_a_vm_that_moves_twice_is_split_by_owner_on_every_total(moved: Any) -> None:
    from tests.security.ownership_fleet import owners_api

    store, _pol, tmp_path = moved
    assert stored(store) == from_lines(store)
    mover = {k[1]: v for k, v in stored(store).items() if k[3] == "vm-move"}
    assert set(mover) == {"edu", "health"}
    edu, health = _mover_lines(store, "edu"), _mover_lines(store, "health")
    assert edu > 0 and health > 0
    assert (mover["edu"][4], mover["health"][4]) == (edu, health)
    assert mover["health"][1] == 10  # the ten days health owned it (2026-01-11 .. 20)

    with owners_api(store, tmp_path) as (client, tokens):
        for me, other, mine in (("edu", "health", edu), ("health", "edu", health)):
            h = {"Authorization": f"Bearer {tokens[f'bureau:{me}']}"}
            body = client.get("/api/v1/billing/statements", headers=h,
                              params={"month": "2026-01", "by": "system"}).json()  # fmt: skip
            stayer = _stayer(store, me)
            assert {r["system"]: Decimal(r["after_cut"]) for r in body["rows"]} == {
                f"{me}-sys": mine + stayer
            }
            budget = client.get("/api/v1/billing/budget", headers=h,
                                params={"fiscal_year": 2026}).json()  # fmt: skip
            assert other not in str(budget)
            # the console's drill-down: the mover's amount is this owner's days only
            client.cookies.clear()
            r = client.post("/console/login", data={"token": tokens[f"bureau:{me}"]},
                            follow_redirects=False)  # fmt: skip
            assert r.status_code == 303
            page = client.get("/console/bills", params={"month": "2026-01", "system": f"{me}-sys"})
            assert page.status_code == 200 and f"{other}-sys" not in page.text
            assert "vm-move" in page.text and _money(mine) in page.text
            assert client.get("/console/bills", params={"month": "2026-01",
                              "system": f"{other}-sys"}).text.count("vm-move") == 0  # fmt: skip
            home = client.get("/console/home")
            assert home.status_code == 200 and f"{other}-sys" not in home.text
            _n, vms = drill.vm_totals(store, dt.date(2026, 1, 1), dt.date(2026, 2, 1), bureau=me)
            assert {v["vm_id"]: v["amount"] for v in vms} == {"vm-move": mine, f"vm-{me}": stayer}
        client.cookies.clear()


def _stayer(store: Store, bureau: str) -> Decimal:
    v = store.scalar(
        f"""SELECT sum(after_cut) FROM bill_lines WHERE vm_id = %(vm)s
        AND day >= %(d0)s AND day < %(d1)s AND {billing.current_filter()}""",
        {"vm": f"vm-{bureau}", "d0": dt.date(2026, 1, 1), "d1": dt.date(2026, 2, 1)},
    )
    return Decimal(v).quantize(Z)


def _money(d: Decimal) -> str:
    return f"{d:,.2f}"
