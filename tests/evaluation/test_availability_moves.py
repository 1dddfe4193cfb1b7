"""A VM that moves bureau, system, pool and provider in the middle of an outage: every
part of its downtime is labelled with the place of its own time, never the latest one.

vm-m belongs to edu / 社保查询 / pool-1 (provider-a) until 15 March 10:30 and to health /
档案 / pool-3 (provider-b) after. It is silent (its collector still beating) 09:00–09:20
(edu's), 10:00–11:30 (across the move) and 14:00–14:10 (health's). vm-s stays with edu.
Both stores; the API and the console's page must say the same."""

from __future__ import annotations

import datetime as dt
import html
import re
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.core.policy import load_policy
from cloudtally.evaluation.availability import Scope, assess
from cloudtally.policy import example_policy_text
from cloudtally.settings import Settings
from cloudtally.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SH = dt.timezone(dt.timedelta(hours=8))
POLICY = load_policy(example_policy_text())
SOURCE = "prometheus:moves"


def t(d: int, hh: int = 0, mm: int = 0) -> int:
    return int(dt.datetime(2023, 3, d, hh, mm, tzinfo=SH).timestamp())


S, E = t(14), t(17)
MOVE = t(15, 10, 30)
OLD = {"bureau": "edu", "system": "社保查询", "pool": "pool-1", "provider": "provider-a"}
NEW = {"bureau": "health", "system": "档案", "pool": "pool-3", "provider": "provider-b"}
SILENT = {
    "vm-m": [(t(15, 9), t(15, 9, 20)), (t(15, 10), t(15, 11, 30)), (t(15, 14), t(15, 14, 10))],
    "vm-s": [(t(16, 8), t(16, 8, 5))],
}
# the incidents as each owner must see them: (vm, start, end) → the place of that time
PARTS = {
    ("vm-m", t(15, 9), t(15, 9, 20)): OLD,
    ("vm-m", t(15, 10), MOVE): OLD,
    ("vm-m", MOVE, t(15, 11, 30)): NEW,
    ("vm-m", t(15, 14), t(15, 14, 10)): NEW,
    ("vm-s", t(16, 8), t(16, 8, 5)): OLD,
}


def _event(vm: str, ts: int, event: str, place: dict[str, str]) -> dict[str, Any]:
    return dict(
        vm_id=vm, event_ts=ts, event=event, name=vm, **place, vcpu=4, mem_gb=Decimal(8),
        disk_ids=["d0"], disk_size_gb=[Decimal(100)], disk_tiers=["standard"], version=1,
    )  # fmt: skip


def plant(store: Store) -> None:
    events = [
        _event("vm-m", S - 86400, "created", OLD),
        _event("vm-m", t(14, 12), "updated", OLD),  # a resize: the same place, no cut
        _event("vm-m", MOVE, "updated", NEW),
        _event("vm-s", S - 86400, "created", OLD),
    ]
    store.insert("vm_inventory", {k: [e[k] for e in events] for k in events[0]})
    vms, stamps = [], []
    for vm, silent in SILENT.items():
        ts = np.arange(S - 3600, E, 60, dtype=np.int64)
        keep = np.ones(len(ts), dtype=bool)
        for a, b in silent:
            keep &= ~((ts >= a) & (ts < b))
        vms += [vm] * int(keep.sum())
        stamps.append(ts[keep])
    n = len(vms)
    store.insert(
        "samples",
        {
            "vm_id": np.array(vms, dtype=object), "ts": np.concatenate(stamps),
            "cpu_pct": np.full(n, 30.0, dtype=np.float32),
            "mem_pct": np.full(n, 50.0, dtype=np.float32),
            "source": np.full(n, SOURCE, dtype=object), "version": np.ones(n, dtype=np.uint64),
            "interval_s": np.full(n, 60, dtype=np.uint32),
        },
    )  # fmt: skip
    hours = range(S - 3600, E, 3600)
    beats: dict[str, list[Any]] = {
        "source": [SOURCE] * len(hours), "partition": [0] * len(hours),
        "sent_at": [h + 3605 for h in hours], "data_from": list(hours),
        "data_until": [h + 3540 for h in hours], "samples": [120] * len(hours),
        "vms": [2] * len(hours), "unknown_series": [0] * len(hours),
        "errors": [0] * len(hours), "received_at": [h + 3606 for h in hours],
        "version": [1] * len(hours),
    }  # fmt: skip
    store.insert("collector_heartbeats", beats)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    plant(store)
    tokens_file = tmp_path / "tokens.yaml"
    tokens = write_demo_tokens(tokens_file, ["edu", "health"])
    settings = Settings(api_tokens_file=tokens_file, data_dir=tmp_path)  # type: ignore[call-arg]
    with TestClient(create_api(settings, lambda: store)) as c:
        yield c, tokens


def _api(c: TestClient, token: str, **params: Any) -> Any:
    r = c.get("/api/v1/availability", params={"from": S, "to": E, **params},
              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def _incidents(doc: Any) -> dict[tuple[str, int, int], dict[str, str]]:
    return {(i["vm_id"], i["start"], i["end"]): {k: i[k] for k in OLD} for i in doc["incidents"]}


def _console(c: TestClient, token: str, by: str) -> tuple[str, list[tuple[str, ...]]]:
    """The console's availability page as ``token`` sees it: the page and its incident
    rows (VM, system, pool, start, end as shown)."""
    c.cookies.clear()
    r = c.post("/console/login", data={"token": token, "next": "/console/"},
               follow_redirects=False)  # fmt: skip
    assert r.status_code in (302, 303), r.text
    page = c.get(f"/console/availability?month=2023-03&months=1&by={by}")
    assert page.status_code == 200, page.text[:500]
    table = page.text.split('id="incidents"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<tr><td><a href="[^"]*">([^<]+)</a></td><td>([^<]*)</td><td>([^<]*)</td>'
        r"<td>([^<]*)</td><td>([^<]*)</td>",
        table,
    )
    return page.text, [tuple(html.unescape(x) for x in row) for row in rows]


def _shown(start: int, end: int) -> tuple[str, str]:
    return tuple(  # type: ignore[return-value]
        dt.datetime.fromtimestamp(x, SH).strftime("%Y-%m-%d %H:%M") for x in (start, end)
    )


def test_each_part_of_an_outage_is_labelled_with_the_place_of_its_time(store: Store) -> None:
    plant(store)
    a = assess(store, POLICY, Scope(S, E))
    got = {(i.vm_id, i.start, i.end): {k: v.label(k) for k in OLD}
           for _, i, v in a.placed_incidents()}  # fmt: skip
    assert got == PARTS
    pools = {g: f for (_, g), f in a.figures("pool").items()}
    assert pools["pool-1"].down_s == 20 * 60 + 30 * 60 + 5 * 60  # edu's parts and vm-s
    assert pools["pool-3"].down_s == 60 * 60 + 10 * 60  # health's parts
    assert pools["pool-1"].vms == 2 and pools["pool-3"].vms == 1  # a VM counts once a group
    # a pool or provider scope keeps only the time the VM was there
    p1 = assess(store, POLICY, Scope(S, E, pool="pool-1"))
    assert {v.label("pool") for _, v in p1.per_vm} == {"pool-1"}
    assert sum(v.down_s for _, v in p1.per_vm) == pools["pool-1"].down_s
    pb = assess(store, POLICY, Scope(S, E, provider="provider-b"))
    assert [(i.start, i.end) for _, i in pb.incidents()] == [
        (MOVE, t(15, 11, 30)), (t(15, 14), t(15, 14, 10))
    ]  # fmt: skip
    # the fault cross-check: provider-b's unreported downtime is its own parts, under 档案
    from cloudtally.evaluation.faults import fault_report

    doc = fault_report(store, POLICY, S, E, provider="provider-b", as_of=E)
    assert sorted((i["start"], i["system"]) for i in doc["metered_downtime_without_report"]) == [
        (MOVE, "档案"), (t(15, 14), "档案")
    ]  # fmt: skip
    # the time vm-m existed is the same, cut or not: up + down + gap over the period
    span = sum(v.up_s + v.down_s + v.gap_s for _, v in a.per_vm if v.vm_id == "vm-m")
    assert span == E - S


def test_the_old_and_new_owner_each_see_their_part_in_the_api_and_the_console(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, tok = client
    buyer = _api(c, tok["admin"], by="system")
    assert _incidents(buyer) == PARTS
    systems = {r["system"]: r for r in buyer["period"]}
    assert systems["社保查询"]["down_s"] == (20 + 30 + 5) * 60
    assert systems["档案"]["down_s"] == 70 * 60

    for bureau, place in (("edu", OLD), ("health", NEW)):
        mine = {k: v for k, v in PARTS.items() if v is place}
        for by in ("bureau", "system", "pool", "provider"):
            doc = _api(c, tok[f"bureau:{bureau}"], by=by)
            assert _incidents(doc) == mine, (bureau, by)
            assert {r[by] for r in doc["period"]} == {place[by]}, (bureau, by, doc["period"])
            assert sum(r["down_s"] for r in doc["period"]) == sum(e - s for (_, s, e) in mine), (
                bureau,
                by,
            )
        # the console: the same incidents, each with the system and pool of its time
        text, rows = _console(c, tok[f"bureau:{bureau}"], "bureau")
        want = sorted((vm, place["system"], place["pool"], *_shown(s, e)) for vm, s, e in mine)
        assert sorted(rows) == want, (bureau, rows)
        other = NEW if place is OLD else OLD
        assert other["system"] not in text and other["bureau"] not in text, bureau
        assert f"<td>{bureau}</td>" in text  # grouped by bureau: itself only

    # the buyer's console lists every part under its own place, as the API does
    _, rows = _console(c, tok["admin"], "system")
    assert sorted(rows) == sorted(
        (vm, p["system"], p["pool"], *_shown(s, e)) for (vm, s, e), p in PARTS.items()
    )
