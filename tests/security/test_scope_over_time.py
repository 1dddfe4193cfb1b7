"""Scope over time: a VM that moves edu → health → edu, through every route, on both engines.

The fleet is rolled up, rated, invoiced per day and the invoice verified, so
every read model has rows of the moving VM on both sides of each move.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.billing.rate import rate_period
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import generate_invoice, render_focus_csv
from cloudtally.store import Store
from tests.api.fleet import policy
from tests.api.test_invoices_api import upload, wait
from tests.security.ownership_fleet import (
    MOVE_1,
    MOVE_2,
    MOVER,
    T0,
    owners_api,
    seed_moving_fleet,
)

SH = dt.timezone(dt.timedelta(hours=8))
D0, D1 = dt.date(2026, 1, 1), dt.date(2026, 1, 31)
START, END = dt.datetime(2026, 1, 1, tzinfo=SH), dt.datetime(2026, 1, 31, tzinfo=SH)


def _utc(s: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(s, dt.UTC)


def _in(t: str, lo: int, hi: int | None) -> bool:
    ts = dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    return lo <= ts < (hi or 2**32)


HEALTH_SPANS = [(MOVE_1, MOVE_2)]
EDU_SPANS = [(T0, MOVE_1), (MOVE_2, None)]


@pytest.fixture
def moved(store: Store, tmp_path: Path) -> Any:
    pol = policy()
    seed_moving_fleet(store, step=300)
    version = pol.version_at(START)
    h0, h1 = hours_of_days(D0, D1, "Asia/Shanghai")
    vms = ["vm-edu", "vm-health", MOVER]
    recompute_hours(store, vms, h0, h1, version.calendar, version.utilization)
    recompute_days(store, vms, D0, D1, version.calendar, version.utilization)
    rate_period(store, pol, START, END)
    with owners_api(store, tmp_path) as (client, tokens):
        exp, vms_lc, _ = inv_store.load_expected(
            store, "provider-a", (START, END), granularity="day"
        )
        lines, _ = generate_invoice(exp, vms_lc, form="focus")
        data = render_focus_csv(lines, provider="provider-a", billing_period=(START, END))
        job = wait(client, tokens["admin"], upload(client, tokens["admin"], data, "f.csv",
                                                   format="focus"))  # fmt: skip
        assert job["state"] == "done", job
        yield client, tokens, job["invoice_id"]


def _get(client: Any, tokens: dict[str, str], role: str, url: str, **params: Any) -> Any:
    r = client.get(url, params=params, headers={"Authorization": f"Bearer {tokens[role]}"})
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r.json()


def test_a_moved_vm_is_seen_by_each_owner_for_its_own_periods_only(moved: Any) -> None:
    client, tokens, invoice_id = moved
    get = lambda role, url, **p: _get(client, tokens, role, url, **p)  # noqa: E731
    # inventory: each owner its own view and periods
    h = get("bureau:health", f"/api/v1/vms/{MOVER}")
    assert h["name"] == "vm-move@health" and h["vcpu"] == 16
    assert [(p["bureau"], p["from"], p["to"]) for p in h["ownership"]] == [
        ("health", _utc(MOVE_1).isoformat().replace("+00:00", "Z"),
         _utc(MOVE_2).isoformat().replace("+00:00", "Z")),
    ]  # fmt: skip
    e = get("bureau:edu", f"/api/v1/vms/{MOVER}")
    assert e["name"] == "vm-move@edu" and e["vcpu"] == 2 and len(e["ownership"]) == 2
    assert len(get("admin", f"/api/v1/vms/{MOVER}")["ownership"]) == 3
    assert [v["vm_id"] for v in get("bureau:health", "/api/v1/vms")["items"]] == ["vm-health"]

    # samples: only the instants each owned it
    window = {"from": T0, "to": T0 + 30 * 86_400, "limit": 100_000}
    hs = get("bureau:health", f"/api/v1/vms/{MOVER}/samples", **window)["samples"]
    es = get("bureau:edu", f"/api/v1/vms/{MOVER}/samples", **window)["samples"]
    assert len(hs) == (MOVE_2 - MOVE_1) // 300 and len(es) == 30 * 288 - len(hs)
    assert all(_in(s["ts"], MOVE_1, MOVE_2) for s in hs)
    assert not any(_in(s["ts"], MOVE_1, MOVE_2) for s in es)
    fleet = get("bureau:health", "/api/v1/fleet")
    assert fleet["samples"] == 30 * 288 + len(hs)

    # bill lines: the mover's days per owner
    for role, spans in (("bureau:health", HEALTH_SPANS), ("bureau:edu", EDU_SPANS)):
        items = get(role, "/api/v1/billing/lines", vm_id=MOVER, day_from="2026-01-01",
                    day_to="2026-01-31", limit=10_000)["items"]  # fmt: skip
        assert items, role
        for line in items:
            day = dt.datetime.combine(dt.date.fromisoformat(line["day"]), dt.time(), SH)
            assert any(lo <= day.timestamp() < (hi or 2**32) for lo, hi in spans), (role, line)

    # invoice lines (one per day): only the days each owned the VM
    for role, spans in (("bureau:health", HEALTH_SPANS), ("bureau:edu", EDU_SPANS)):
        body = get(role, f"/api/v1/invoices/{invoice_id}/lines", resource_id=MOVER,
                   limit=10_000)  # fmt: skip
        assert body["items"], role
        for line in body["items"]:
            assert any(_in(line["period_start"], lo, hi) for lo, hi in spans), (role, line)
            assert line["bureau"] == role.split(":")[1]
    admin_lines = get("admin", f"/api/v1/invoices/{invoice_id}/lines", resource_id=MOVER,
                      limit=10_000)["items"]  # fmt: skip
    h_lines = get("bureau:health", f"/api/v1/invoices/{invoice_id}/lines", resource_id=MOVER,
                  limit=10_000)["items"]  # fmt: skip
    e_lines = get("bureau:edu", f"/api/v1/invoices/{invoice_id}/lines", resource_id=MOVER,
                  limit=10_000)["items"]  # fmt: skip
    assert len(h_lines) + len(e_lines) == len(admin_lines)


def _get_routes(app: Any) -> list[str]:
    return sorted(p for p, ops in app.openapi()["paths"].items() if "get" in ops)


def test_every_route_walked_by_both_owners_shows_only_their_periods(moved: Any) -> None:
    """Every GET route, aimed at the moving VM: neither owner's response carries the other
    owner's view of it (the VM's name per owner is the canary)."""
    client, tokens, invoice_id = moved
    for role, other in (("bureau:health", "vm-move@edu"), ("bureau:edu", "vm-move@health")):
        h = {"Authorization": f"Bearer {tokens[role]}"}
        for path in _get_routes(client.app):
            url = path.replace("{vm_id}", MOVER).replace("{invoice_id}", invoice_id)
            url = re.sub(r"\{[a-z_]+\}", "x", url)
            params = {"vm_id": MOVER, "from": "2026-01-01", "to": "2026-01-31", "limit": 1000}
            r = client.get(url, params=params, headers=h)
            assert r.status_code in (200, 403, 404, 422), (role, url, r.status_code, r.text)
            assert other not in r.text, (role, url)
