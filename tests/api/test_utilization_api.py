"""Utilization API on a planted fleet (both engines): idle / rightsizing / storage-idle
candidates with evidence and savings, day/night split, pool KPIs, CSV export, bureau
scope and parameter errors."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from cloudtally.analytics.queries import pool_kpis
from tests.api import fleet
from tests.api.fleet import D0, D1, FLEET, OCT, Api

seeded = fleet.seeded  # the module-scoped seeded API fixture

U = "/api/v1/utilization"
PERIOD = {"day_from": D0.isoformat(), "day_to": D1.isoformat()}


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_planted_idle_vms_with_evidence(seeded: Api) -> None:
    r = seeded.get(f"{U}/candidates/idle", as_of=D1.isoformat())
    assert r.status_code == 200
    body = r.json()
    assert [c["vm_id"] for c in body["items"]] == ["edu-idle", "health-idle"]
    assert body["total"] == 2 and body["window"] == {"start": "2023-10-09", "end": "2023-10-23"}
    ev = body["items"][0]["evidence"]
    assert (ev["cpu_avg"], ev["mem_avg"], ev["cpu_max"], ev["mem_max"]) == (2.0, 3.0, 2.0, 3.0)
    assert ev["coverage"] == 1.0 and ev["samples"] == ev["expected_samples"] == 14 * 288
    assert body["items"][0]["freed_vcpu"] == 8 and body["items"][0]["freed_mem_gb"] == "16"
    # a bureau sees its own idle VM only
    own = seeded.get(f"{U}/candidates/idle", "bureau:edu", as_of=D1.isoformat()).json()
    assert [c["vm_id"] for c in own["items"]] == ["edu-idle"]
    # one day later the window still holds 13 planted days + 1 unmetered day: coverage fails
    later = seeded.get(f"{U}/candidates/idle", as_of="2023-10-24").json()
    assert later["total"] == 0


def test_day_night_split_of_the_night_batch_vm(seeded: Api) -> None:
    r = seeded.get(U, level="vm", vm_id="health-nightbatch", **PERIOD)
    assert r.status_code == 200
    (vm,) = r.json()["items"]
    # business hours run 2 %; the 13:00 hour (4 %) is half business (13:30 start)
    assert vm["cpu"]["day"] == pytest.approx(16 / 7.5, abs=1e-3)
    assert vm["cpu"]["night"] == pytest.approx(15.0, abs=1e-3)
    assert vm["cpu"]["all"] > vm["cpu"]["day"] * 2 and vm["night_heavy"] is True
    every = seeded.get(U, level="vm", **PERIOD).json()
    assert every["total"] == 5
    assert [v["vm_id"] for v in every["items"] if v["night_heavy"]] == ["health-nightbatch"]
    busy = next(v for v in every["items"] if v["vm_id"] == "edu-busy")
    assert busy["cpu"] == {"day": 45.0, "all": 45.0, "night": 45.0}
    assert busy["coverage"] == 1.0 and busy["vcpu_hours"] == 8 * 24 * 14


def test_levels_and_paging(seeded: Api) -> None:
    bureaus = seeded.get(U, level="bureau", **PERIOD).json()
    assert [(b["bureau"], b["vms"]) for b in bureaus["items"]] == [("edu", 2), ("health", 3)]
    edu = bureaus["items"][0]
    assert edu["cpu"]["all"] == pytest.approx((2 + 45) / 2, abs=1e-3)  # equal-sized VMs
    pools = seeded.get(U, level="pool", **PERIOD).json()["items"]
    assert [(p["provider"], p["pool"]) for p in pools] == [
        ("provider-a", "pool-1"),
        ("provider-b", "pool-3"),
    ]
    month = seeded.get(U, level="provider", month="2023-10").json()
    assert (month["day_from"], month["day_to"]) == ("2023-10-01", "2023-11-01")
    assert [p["vms"] for p in month["items"]] == [2, 3]
    pages = [seeded.get(U, level="vm", limit=2, offset=o, **PERIOD).json() for o in (0, 2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [v["vm_id"] for p in pages for v in p["items"]] == sorted(FLEET)
    assert seeded.get(U, level="vm", pool="pool-1", **PERIOD).json()["total"] == 2


def test_csv_export_with_chinese_headers(seeded: Api) -> None:
    r = seeded.get(U, level="vm", format="csv", lang="zh", **PERIOD)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-total-count"] == "5"
    rows = read_csv(r.text)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["虚拟机", "使用单位", "应用系统", "资源池", "云服务商"]
    assert "CPU日间利用率(%)" in header and "CPU夜间利用率(%)" in header
    assert [row[0] for row in body] == sorted(FLEET)
    night = body[[row[0] for row in body].index("health-nightbatch")]
    assert float(night[header.index("CPU夜间利用率(%)")]) == pytest.approx(15.0)
    assert night[header.index("夜间负载偏高")] == "true"
    en = read_csv(seeded.get(U, level="bureau", format="csv", lang="en", **PERIOD).text)
    assert en[0][:3] == ["bureau", "day_from", "day_to"] and len(en) == 3
    # an empty export still has its header row
    empty = read_csv(
        seeded.get(U, level="vm", format="csv", lang="en", vm_id="none", **PERIOD).text
    )
    assert len(empty) == 1 and empty[0][0] == "vm_id"
    # exports are Chinese unless asked otherwise (docs/i18n.md)
    default = read_csv(seeded.get(U, level="bureau", format="csv", **PERIOD).text)
    assert default[0][:3] == ["使用单位", "起始日期", "截止日期(不含)"]


def test_pool_kpis_with_scores(seeded: Api) -> None:
    r = seeded.get(f"{U}/pools", "auditor", month="2023-10")
    assert r.status_code == 200
    body = r.json()
    # every pool of the tariff is listed; the four without any usage score the lowest band
    assert body["month"] == "2023-10" and body["total"] == 6
    measured = [p for p in body["items"] if not p["no_data"]]
    assert len(measured) == 2
    for p in body["items"]:
        if p["no_data"]:
            assert (p["points_2"], p["points_10"], p["utilization_pct"]) == (0, 0, None)
    p1 = body["items"][0]
    assert (p1["provider"], p1["pool"], p1["vms"]) == ("provider-a", "pool-1", 2)
    # edu-idle and edu-busy, equal sizes: CPU (2 + 45) / 2, memory (3 + 60) / 2
    assert (p1["cpu_pct"], p1["mem_pct"]) == (23.5, 31.5)
    direct = pool_kpis(seeded.store, OCT, policy=seeded.policy.versions[-1].utilization)
    assert measured == direct["items"]  # the route hides nothing
    for p in body["items"]:
        assert p["points_2"] in (0, 1, 2) and 0 <= p["points_10"] <= 10
    prov = seeded.get(f"{U}/pools", month="2023-10", level="provider").json()
    assert [p["provider"] for p in prov["items"]] == ["provider-a", "provider-b", "provider-c"]
    assert [p["no_data"] for p in prov["items"]] == [False, False, True]
    rows = read_csv(seeded.get(f"{U}/pools", month="2023-10", format="csv", lang="zh").text)
    assert rows[0][:2] == ["云服务商", "资源池"] and "2分制得分" in rows[0]
    assert "10分制得分" in rows[0] and "无数据" in rows[0] and len(rows) == 7
    # pool-wide figures are the buyer's evaluation, not bureau data
    assert seeded.get(f"{U}/pools", "bureau:edu", month="2023-10").status_code == 403


def test_savings_have_one_definition_in_the_api_and_the_alerts(seeded: Api) -> None:
    """The API's savings_year equals the alerts'/gauges' price (AnnualPrices) for each VM."""
    import datetime as dt

    from cloudtally.analytics.alerts import AnnualPrices, version_for
    from cloudtally.core.idle import yearly_savings

    body = seeded.get(f"{U}/candidates/rightsizing", **PERIOD).json()
    prices = AnnualPrices(version_for(seeded.policy, D1))
    assert body["items"]
    for c in body["items"]:
        p = prices.prices[(c["provider"], c["pool"])]
        expected = yearly_savings(c["freed_vcpu"], Decimal(c["freed_mem_gb"]), p)
        assert c["savings_year"] == str(expected), c["vm_id"]
    assert D1 - dt.timedelta(days=1) >= D0


def test_rightsizing_with_savings_at_the_pool_price(seeded: Api) -> None:
    r = seeded.get(f"{U}/candidates/rightsizing", **PERIOD)
    assert r.status_code == 200
    body = r.json()
    got = {c["vm_id"]: c for c in body["items"]}
    assert set(got) == {"edu-idle", "health-idle", "health-nightbatch", "health-oversized"}
    # tariff 2023.2 (in force on 2023-10-22), per year as billed (core.savings): monthly
    # ÷ 720 h × 8760 h × tender 0.55 — pool-1: vCPU 30 → 200.75, GB 15 → 100.375;
    # pool-3: vCPU 32 → 214.1333…, GB 16 → 107.0666…
    # oversized: p95 10 % of 8 vCPU = 0.8 → ceil(0.8 / 0.6) = 2; 12 % of 16 GB → 3.2 → 4 GB
    o = got["health-oversized"]
    assert (o["evidence"]["target_vcpu"], o["evidence"]["target_mem_gb"]) == (2, "4")
    assert (o["freed_vcpu"], o["freed_mem_gb"]) == (6, "12")
    assert o["savings_year"] == "2569.60"  # 6 × 214.1333… + 12 × 107.0666…
    assert got["edu-idle"]["savings_year"] == "2910.88"  # 7 × 200.75 + 15 × 100.375
    assert got["health-idle"]["savings_year"] == "3104.93"  # 7 × 214.13… + 15 × 107.06…
    # the night batch is sized by its daytime p95, not its 15 % nights: 1 vCPU, 3 GB
    nb = got["health-nightbatch"]
    assert (nb["evidence"]["target_vcpu"], nb["evidence"]["target_mem_gb"]) == (1, "3")
    assert nb["savings_year"] == "2890.80"  # 7 × 214.13… + 13 × 107.06…
    # …but nights are not hidden: all-hours and night figures, the flag, the peak size
    ev = nb["evidence"]
    assert ev["night_heavy"] is True and ev["cpu_night"] > 2 * ev["cpu_day"]
    assert ev["cpu_all"] is not None and ev["mem_night"] is not None
    assert ev["peak_target_vcpu"] >= ev["target_vcpu"]
    assert ev["peak_fill_of_target_pct"] > 60  # its night batch runs the new size hotter
    assert got["edu-idle"]["evidence"]["night_heavy"] is False
    assert o["evidence"]["unit_prices_year"] == {"vcpu": "214.13", "mem_gb": "107.07"}
    assert "2023.2" in o["evidence"]["price_basis"] and "method" in o["evidence"]
    assert [c["vm_id"] for c in body["items"]] == [
        "health-idle", "edu-idle", "health-nightbatch", "health-oversized"
    ]  # fmt: skip
    assert Decimal(body["totals"]["savings_year"]) == Decimal("11476.21")
    own = seeded.get(f"{U}/candidates/rightsizing", "bureau:health", **PERIOD).json()
    assert [c["vm_id"] for c in own["items"]] == [
        "health-idle", "health-nightbatch", "health-oversized"
    ]  # fmt: skip
    assert Decimal(own["totals"]["savings_year"]) == Decimal("8565.33")
    # the default review period is the last complete quarter: no planted data there
    assert seeded.get(f"{U}/candidates/rightsizing", quarter="2023-Q3").json()["total"] == 0
    rows = read_csv(
        seeded.get(f"{U}/candidates/rightsizing", format="csv", lang="en", **PERIOD).text
    )
    assert rows[0][:2] == ["kind", "vm_id"] and [r[1] for r in rows[1:]] == [
        c["vm_id"] for c in body["items"]
    ]


def test_storage_idle_disk(seeded: Api) -> None:
    body = seeded.get(f"{U}/candidates/storage-idle", as_of="2023-10-09").json()
    assert body["months"] == ["2023-08", "2023-09"]
    assert [(c["vm_id"], c["disk_id"], c["freed_storage_gb"]) for c in body["items"]] == [
        ("edu-cold", "cold", "500")
    ]
    assert [m["used_pct_max"] for m in body["items"][0]["evidence"]["months"]] == [2.0, 2.0]
    other = seeded.get(f"{U}/candidates/storage-idle", "bureau:health", as_of="2023-10-09")
    assert other.status_code == 200 and other.json()["total"] == 0


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("", {"level": "rack"}, "level"),
        ("", {"month": "2023-13"}, "month: expected YYYY-MM"),
        ("", {"day_from": "2023-10-09"}, "day_from and day_to go together"),
        ("", {"day_from": "2023-10-09", "day_to": "2023-10-09"}, "must be after"),
        ("", {"month": "2023-10", "day_from": "2023-10-09"}, "not both"),
        ("", {"day_from": "2020-01-01", "day_to": "2023-01-01"}, "period too long"),
        ("", {"format": "pdf"}, "format"),
        ("", {"limit": 0}, "limit"),
        ("/pools", {"month": "Oct"}, "month: expected YYYY-MM"),
        ("/candidates/idle", {"as_of": "yesterday"}, "as_of"),
        ("/candidates/rightsizing", {"quarter": "2023-Q5"}, "quarter: expected YYYY-Qn"),
    ],
)
def test_bad_parameters_are_a_clear_422(seeded: Api, path: str, params: dict, needle: str) -> None:
    r = seeded.get(f"{U}{path}", **params)
    assert r.status_code == 422, r.text
    assert needle in r.text


def test_bureau_never_sees_another_bureau(seeded: Api) -> None:
    """Every utilization route, filled with planted periods, read by each bureau token."""
    urls = [
        (U, {"level": lvl, **PERIOD}) for lvl in ("vm", "system", "bureau", "pool", "provider")
    ] + [
        (f"{U}/candidates/idle", {"as_of": D1.isoformat()}),
        (f"{U}/candidates/rightsizing", PERIOD),
        (f"{U}/candidates/storage-idle", {"as_of": "2023-10-09"}),
    ]
    for me, other in (("edu", "health"), ("health", "edu")):
        for url, params in urls:
            for fmt in ("json", "csv"):
                r = seeded.get(url, f"bureau:{me}", format=fmt, **params)
                assert r.status_code == 200, (url, r.text)
                assert f"{other}-" not in r.text and f'"{other}"' not in r.text, (url, r.text)
                if fmt == "json" and not (me == "health" and url.endswith("storage-idle")):
                    assert r.json()["total"] > 0, url  # the own data is there
            denied = seeded.get(url, f"bureau:{me}", bureau=other, **params)
            assert denied.status_code == 403 and other + "-" not in denied.text
