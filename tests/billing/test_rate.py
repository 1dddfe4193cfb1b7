"""Billing against the real stores: the hand-computed fleet bill, idempotent re-rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cloudtally.billing import rate as billing
from cloudtally.store import Store
from tests.billing import fleet

T0 = dt.datetime(2023, 1, 15, tzinfo=fleet.SH)
T1 = dt.datetime(2023, 1, 17, tzinfo=fleet.SH)
JAN = dt.date(2023, 1, 1)


def current_lines(
    store: Store,
) -> dict[tuple[str, str, str], tuple[str, Decimal, Decimal, Decimal]]:
    rows = store.rows(
        f"""SELECT vm_id, toString(day), resource, tariff_version, list_amount, after_discount,
        after_cut FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s AND
        {billing.current_filter()}""",
        {"d0": dt.date(2023, 1, 1), "d1": dt.date(2023, 2, 1)},
    )
    out = {(r[0], r[1], r[2]): (r[3], Decimal(r[4]), Decimal(r[5]), Decimal(r[6])) for r in rows}
    assert len(out) == len(rows), "one current line per (vm, day, resource)"
    return out


@pytest.fixture
def rated(store: Store) -> Store:
    fleet.insert_usage(store, fleet.fleet_rows())
    billing.rate_period(store, fleet.policy(), T0, T1, run_kind="stream")
    return store


def test_hand_computed_fleet_bill(rated: Store) -> None:
    assert current_lines(rated) == fleet.EXPECTED
    expected_total = sum(v[3] for v in fleet.EXPECTED.values())
    assert expected_total == Decimal("41.23")  # 13.20 + 18.48 + 3.07 + 3.24 × 2


def test_line_derivation_is_recorded(rated: Store) -> None:
    row = rated.dicts(
        f"""SELECT quantity, unit, unit_price, price_divisor, adjustments, utilization_basis,
        hours, unmetered_hours FROM bill_lines WHERE vm_id = 'vm2' AND resource = 'vcpu'
        AND {billing.current_filter()}""",
        {"d0": dt.date(2023, 1, 1), "d1": dt.date(2023, 2, 1)},
    )
    assert len(row) == 1
    r = row[0]
    assert r["quantity"] == Decimal("21") and r["unit"] == "vCPU-hour"
    assert r["unit_price"] == Decimal("72") and r["price_divisor"] == 720
    assert r["hours"] == Decimal("10.5") and r["unmetered_hours"] == 2
    assert r["utilization_basis"] == pytest.approx(10.0)
    assert '"rule":"low_utilization","cut":"0.30"' in r["adjustments"]
    assert '"rule":"tender_discount","pay":"0.55"' in r["adjustments"]


def test_month_volume_tiers_both_modes(rated: Store) -> None:
    rows = billing.accrue_month(rated, fleet.policy(), JAN)
    assert {r["provider"]: r["amount"] for r in rows} == fleet.EXPECTED_TIERS
    got = rated.rows("SELECT provider, status, amount FROM statement_lines FINAL ORDER BY provider")
    assert got == [("p1", "provisional", Decimal("-1.74")), ("p2", "provisional", Decimal("-0.90"))]
    billing.close_month(rated, fleet.policy(), JAN, actor="test")
    got = rated.rows("SELECT provider, status, amount FROM statement_lines FINAL ORDER BY provider")
    assert got == [("p1", "final", Decimal("-1.74")), ("p2", "final", Decimal("-0.90"))]


def test_rerate_is_idempotent_and_keeps_previous_run(rated: Store) -> None:
    before = current_lines(rated)
    first_run = rated.scalar("SELECT run_id FROM rating_runs ORDER BY version LIMIT 1")
    s = billing.rate_period(
        rated, fleet.policy(), T0, T1, run_kind="rerate", reason="audit", actor="alice"
    )
    assert current_lines(rated) == before
    assert s.total == s.previous_total == Decimal("41.23")
    # The previous result is still there, under its own run.
    old = rated.scalar(
        "SELECT sum(after_cut) FROM bill_lines WHERE run_id = %(r)s", {"r": first_run}
    )
    assert Decimal(old) == Decimal("41.23")
    runs = rated.rows("SELECT kind, reason, actor FROM rating_runs ORDER BY version")
    assert runs == [("stream", "", ""), ("rerate", "audit", "alice")]


def test_rerate_of_one_vm_touches_only_its_keys(rated: Store) -> None:
    # Late data: vm3 lost its Jan 16 usage (corrected inventory: deleted on Jan 16).
    rated.execute("ALTER TABLE usage_hourly DELETE WHERE vm_id = 'vm3' AND hour >= %(t)s",
                  {"t": dt.datetime(2023, 1, 16, tzinfo=fleet.SH)})  # fmt: skip
    _wait_mutations(rated)
    s = billing.rate_period(rated, fleet.policy(), T0, T1, vm_ids=["vm3"], run_kind="rerate")
    assert s.line_count == 3
    lines = current_lines(rated)
    expected = {
        k: v for k, v in fleet.EXPECTED.items() if not (k[0] == "vm3" and k[1] == "2023-01-16")
    }
    assert lines == expected


def test_mid_range_version_split_and_unpriced(store: Store) -> None:
    rows = fleet.fleet_rows()
    rows.append(fleet._row("vm9", fleet.local_hour(15, 3), pool="Z", vcpu=2))
    fleet.insert_usage(store, rows)
    s = billing.rate_period(store, fleet.policy(), T0, T1)
    assert s.tariff_versions == ["v1", "v2"]
    assert [(u[0], u[2], u[3]) for u in s.unpriced] == [("vm9", "Z", "vcpu")]
    assert s.total == Decimal("41.23")


def _wait_mutations(store: Store) -> None:
    import time

    for _ in range(200):
        if not store.scalar(
            "SELECT count() FROM system.mutations"
            " WHERE database = currentDatabase() AND is_done = 0"
        ):
            return
        time.sleep(0.05)
    raise AssertionError("mutation did not finish")


def _lines_sum(store: Store, where: str = "", params: dict | None = None) -> Decimal:
    """Independent check: sum the current lines in Python."""
    p = {"d0": dt.date(2023, 1, 1), "d1": dt.date(2023, 2, 1), **(params or {})}
    rows = store.rows(
        f"SELECT after_cut FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s {where} "
        f"AND {billing.current_filter()}",
        p,
    )
    return sum((Decimal(r[0]) for r in rows), Decimal("0.00"))


def test_statements_equal_sum_of_lines(rated: Store) -> None:
    from cloudtally.billing import statements as st

    pol = fleet.policy()
    billing.accrue_month(rated, pol, JAN)
    for by in st.DIMENSIONS:
        s = st.statement(rated, pol, month=JAN, by=by)
        assert s.lines_total == _lines_sum(rated) == Decimal("41.23")
        for row in s.rows:
            assert row["after_cut"] == _lines_sum(rated, f"AND {by} = %(k)s", {"k": row[by]})
        assert s.total == Decimal("41.23") - Decimal("1.74") - Decimal("0.90")
    fy = st.statement(rated, pol, fiscal_year=2023, by="bureau")
    assert {r["bureau"]: r["after_cut"] for r in fy.rows} == {
        "b1": Decimal("13.20") + Decimal("18.48") + Decimal("6.48"),
        "b2": Decimal("3.07"),
    }
    scoped = st.statement(rated, pol, month=JAN, by="provider", bureau="b2")
    assert [(r["provider"], r["after_cut"]) for r in scoped.rows] == [("p1", Decimal("3.07"))]
    assert scoped.adjustments == []  # provider-level lines belong to no bureau
    page = st.lines(rated, d0=JAN, d1=dt.date(2023, 2, 1), bureau="b2", limit=3)
    assert len(page) == 3 and {r["bureau"] for r in page} == {"b2"}
    page2 = st.lines(rated, d0=JAN, d1=dt.date(2023, 2, 1), bureau="b2", limit=3, offset=3)
    assert len(page2) == 1


def test_budget_forecast(rated: Store) -> None:
    from cloudtally.billing import statements as st

    pol = fleet.policy()
    out = {b.scope: b.forecast for b in st.budget_status(rated, pol, 2023)}
    # FY2023 = 2022-10-01 .. 2023-09-30: 365 days; rated through 2023-01-16 = day 108.
    prog = out["programme"]
    assert (prog.days_elapsed, prog.days_in_year) == (108, 365)
    assert prog.accrued == Decimal("41.23")
    # 41.23 / 108 × 365 = 139.3428... -> 139.34
    assert prog.forecast == Decimal("139.34") and prog.remaining == Decimal("860.66")
    # b2: 3.07 / 108 × 365 = 10.3754... -> 10.38 against a budget of 5 -> overrun
    assert out["b2"].forecast == Decimal("10.38") and out["b2"].remaining == Decimal("-5.38")
    scoped = st.budget_status(rated, pol, 2023, bureau="b2")
    assert [b.scope for b in scoped] == ["b2"]


def test_what_if_daytime_vs_all_hours_leaves_live_lines(rated: Store) -> None:
    from cloudtally.billing import statements as st

    before = current_lines(rated)
    count = rated.scalar("SELECT count() FROM bill_lines")
    # Under all-hours utilization vm2's night batches lift it above 20 %: no cut,
    # vcpu and memory 0.81 -> 1.16 each: b2 pays 0.70 more.
    diff = st.what_if(rated, fleet.policy("all_hours"), T0, T1, by="bureau", reason="compare")
    assert diff == [
        {"bureau": "b1", "live": Decimal("38.16"), "what_if": Decimal("38.16"),
         "difference": Decimal("0.00")},
        {"bureau": "b2", "live": Decimal("3.07"), "what_if": Decimal("3.77"),
         "difference": Decimal("0.70")},
    ]  # fmt: skip
    assert current_lines(rated) == before
    assert rated.scalar("SELECT count() FROM bill_lines") == count
    assert rated.scalar("SELECT count() FROM rating_runs WHERE kind = 'whatif'") == 1
    scoped = st.what_if(rated, fleet.policy("all_hours"), T0, T1, bureau="b1", record=False)
    assert [r["bureau"] for r in scoped] == ["b1"]


def test_rerate_under_new_policy_compares_with_previous(rated: Store) -> None:
    from cloudtally.billing import statements as st

    s = billing.rate_period(
        rated, fleet.policy("all_hours"), T0, T1, run_kind="rerate", reason="clause", actor="bob"
    )
    assert s.total == Decimal("41.93") and s.previous_total == Decimal("41.23")
    diff = st.run_diff(rated, s.run_id, by="bureau")
    assert [(d["bureau"], d["previous"], d["current"], d["difference"]) for d in diff] == [
        ("b1", Decimal("38.16"), Decimal("38.16"), Decimal("0.00")),
        ("b2", Decimal("3.07"), Decimal("3.77"), Decimal("0.70")),
    ]
    assert _lines_sum(rated) == Decimal("41.93")


def test_diff_of_an_unknown_run_is_an_error(store) -> None:
    import pytest

    from cloudtally.billing.statements import run_diff

    with pytest.raises(LookupError, match="has no lines"):
        run_diff(store, "stream-does-not-exist")
