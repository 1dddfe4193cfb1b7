"""The first run ``make up`` does (console/firstrun.py) on a fresh store leaves every
capability showing, read back through the console and the API as a newcomer would:
idle, storage-idle and rightsizing candidates, a rated month, a verified invoice with
its planted findings, an open round, availability below target with the planted pool
outage and its SLA credit, and a scorecard. CI-sized: 24 VMs instead of 300."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudtally.api.main import create_api
from cloudtally.collectors.fleet import Fleet
from cloudtally.console import firstrun
from cloudtally.policy import current_policy
from cloudtally.settings import Settings
from cloudtally.store import Store

VMS, SEED = 24, 1


def _month(ts: int, zone: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m")


@pytest.mark.timeout(900)
def test_first_run_shows_every_capability(store: Store, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, api_auth=False, data_dir=tmp_path)  # type: ignore[call-arg]
    record = firstrun.build(settings, vms=VMS, seed=SEED, store=store)
    # up runs on the policy version the first run published (this fiscal year's budgets)
    settings = settings.model_copy(update={"policy_file": Path(record["policy_file"])})
    fleet = Fleet.build(SEED, VMS, 2, 20, start=record["start"], end=record["end"])
    outage = record["outage"]
    hit = fleet.plant_outage(outage["pool"], outage["from"], outage["to"])
    assert len(hit) == outage["vms"] > 0
    labels = fleet.labels
    with TestClient(create_api(settings, lambda: store)) as c:

        def page(path: str) -> str:
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:500])
            return r.text

        def api(path: str) -> object:
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:500])
            return r.json()

        zone = current_policy(settings.policy_file).zone
        last = _month(outage["from"], zone)

        # candidates of all three kinds, each the planted profile's VMs
        cands = page("/console/candidates")
        for profile in ("idle_portal", "oversized", "cold_partition"):
            assert labels[profile], profile
            assert any(vm in cands for vm in labels[profile]), (profile, labels[profile])

        # last month rated: a statement with a non-zero total
        st = api(f"/api/v1/billing/statements?month={last}")
        assert Decimal(str(st["total"])) > 0, st

        # the bills page's downloads are the API's exports (the links were once 404s)
        bills = page(f"/console/bills?month={last}")
        links = re.findall(r'href="(/api/v1/billing/statements\?[^"]+)"', bills)
        assert len(links) == 2, links  # CSV and XLSX
        for href in links:
            r = c.get(href.replace("&amp;", "&"))
            assert r.status_code == 200 and len(r.content) > 100, (href, r.status_code)

        # both complete months closed and issued (revision 0), and shown so on the bills page
        assert record["closed"] == [_month(record["start"], zone), last]
        for month in record["closed"]:
            issued = api(f"/api/v1/audit/months/{month}")
            assert issued["revision"] == 0, issued
        text = re.search(r'data-testid="issued-version">(.*?)</p>', bills, re.S)
        assert text and "第 0 版" in text.group(1) and "待重述" not in text.group(1), text

        # the SLA credit is a final statement line of the closed month, the invoice leaves
        # it out, and rule S1 finds exactly its amount
        credits = api(f"/api/v1/availability/credits?month={last}&provider=provider-a")
        assert credits and Decimal(str(credits[0]["amount"])) == Decimal("-47.07"), credits
        inv = api(f"/api/v1/invoices/{record['invoice_id']}")
        findings = api(f"/api/v1/invoices/{record['invoice_id']}/findings?limit=500")
        rules = {f["rule_id"] for f in findings["items"]}
        assert len(rules) >= 3, (inv, rules)
        s1 = [f for f in findings["items"] if f["rule_id"] == "S1"]
        assert len(s1) == 1 and Decimal(str(s1[0]["amount_at_stake"])) == Decimal("47.07"), s1
        assert Decimal(str(s1[0]["evidence"]["expected_credit"])) == Decimal("-47.07"), s1
        assert record["invoice_id"] in page("/console/invoices")
        shown = page(f"/console/invoices/{record['invoice_id']}?rule=S1")
        assert "S1" in shown and "47.07" in shown

        # an open round listed on the rounds page
        assert record["round_id"] in page("/console/rounds")

        # availability: pool-1 below target last month, the outage's VMs among the incidents
        doc = api(f"/api/v1/availability?month={last}&by=pool")
        pool1 = next(r for r in doc["period"] if r["pool"] == "pool-1")
        assert pool1["target"]["met"] is False, pool1
        assert pool1["down_s"] >= outage["vms"] * (outage["to"] - outage["from"]), pool1
        down = {i["vm_id"] for i in doc["incidents"] if i["start"] <= outage["from"] + 900}
        assert set(labels["outage"]) <= down, (labels["outage"], down)
        # the history's newest minutes are up, and after its last beat a gap, never down
        edge = api(f"/api/v1/availability?from={record['end'] - 3600}&to={record['end'] + 900}")
        assert edge["incidents"] == [], edge["incidents"][:3]
        assert edge["period"][0]["gap_s"] > 0
        html = page(f"/console/availability?month={last}&months=1")
        assert "未达标" in html and labels["outage"][0] in html
        # the SLA credit due to the buyer (a fee reduction), on the page
        assert re.search(r"provider-a</td><td>pool-1", html), "credit row"

        # this fiscal year's budget: a policy version activated with its reason, and home
        # shows the API's budget and forecast, the programme's and a bureau's over budget
        fy = record["budget_fy"]
        acts = api("/api/v1/audit/ledger?kind=policy_activated")["items"]
        assert any(f"FY{fy} budget" in a["reason"] for a in acts), acts
        status = {b["scope"]: b for b in api(f"/api/v1/billing/budget?fiscal_year={fy}")["items"]}
        over = sorted(s for s, b in status.items() if Decimal(str(b["remaining"])) < 0)
        assert over and "programme" not in over and len(over) < (len(status) - 1) / 2, status
        for scope, query in (("programme", ""), (over[0], f"?bureau={over[0]}")):
            home = page(f"/console/home{query}")
            for key in ("budget", "forecast", "accrued"):
                want = f"{Decimal(str(status[scope][key])).quantize(Decimal('0.01')):,}"
                assert _testid(home, f"fy-{key}") == want, (scope, key, want)
            assert ("fy-over" in home) is (scope != "programme"), scope

        # a scorecard for the fiscal year of last month, every pool listed
        fy = c.get("/console/scorecards").text
        assert "pool-1" in fy and "pool-2" in fy


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1).strip()


def test_the_simulator_is_given_the_first_runs_outage() -> None:
    """``make up`` streams the fleet again over the history: without the same outage its
    samples would fill the planted silence and the downtime would vanish."""
    import datetime as dt

    from cloudtally.collectors.simulate import parse_outage

    zone = current_policy(None).zone
    pool, t0, t1 = firstrun.outage_of(dt.date(2026, 3, 2), zone)
    assert dt.datetime.fromtimestamp(t0, zone) == dt.datetime(2026, 2, 10, 10, tzinfo=zone)
    record = {"start": t0 - 86_400, "end": t1 + 86_400,
              "outage": {"pool": pool, "from": t0, "to": t1, "vms": 3}}  # fmt: skip
    args = firstrun.simulator_args(record)
    assert parse_outage(args[args.index("--outage") + 1]) == (pool, t0, t1)
    assert "--outage" not in firstrun.simulator_args({"start": t0, "end": t1})  # old marker
