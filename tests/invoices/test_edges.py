# ruff: noqa: E501  (invoice rows are kept one per line, as the provider writes them)
"""A second provider's layout end to end on both stores: the shipped example mapping, a
hand-written GB18030 settlement sheet (core-hours at hourly prices against a monthly
catalog, exclusive end dates, a bureau column), currencies, and the import CLI.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from cloudtally.core.invoice import InvoiceError, money
from cloudtally.core.verification import Adjustment, ExpectedCharge, VmLifecycle
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import seed_metering
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice

SH = ZoneInfo("Asia/Shanghai")
JAN = (dt.datetime(2024, 1, 1, tzinfo=SH), dt.datetime(2024, 2, 1, tzinfo=SH))
MAPPING = Path(str(resources.files("cloudtally.invoices") / "mappings" / "settlement-gb18030.yaml"))
PROVIDER = "provider-b"
MONTHLY = {"vcpu": D(36), "memory": D("7.2"), "storage_standard": D("0.72"), "storage_performance": D("1.44")}  # fmt: skip
FLEET = {  # vm → bureau and allocation (vCPU, GB); January: 744 hours
    "vm-000001": ("bureau-001", {"vcpu": 2, "memory": 4, "storage_standard": 100}),
    "vm-000002": ("bureau-002", {"vcpu": 8, "memory": 16}),
    "vm-000003": ("bureau-003", {"vcpu": 4, "storage_performance": 500}),
}


def seed(store) -> None:
    """Metering as the pipeline rates it from a monthly catalog (720 h), 55 % tender."""
    charges, vms = [], {}
    for vm, (bureau, alloc) in FLEET.items():
        vms[vm] = VmLifecycle(vm, JAN[0] - dt.timedelta(days=90), None, bureau, "pool-3", PROVIDER)
        for rtype, size in alloc.items():
            hours = D(size * 744)
            lst = money(hours * MONTHLY[rtype] / 720)
            charges.append(
                ExpectedCharge(
                    resource_id=vm,
                    resource_type=rtype,
                    period_start=JAN[0].astimezone(dt.UTC),
                    period_end=JAN[1].astimezone(dt.UTC),
                    quantity=hours,
                    unit_price=MONTHLY[rtype],
                    list_amount=lst,
                    discounted_amount=money(lst * D("0.55")),
                    expected_amount=money(lst * D("0.55")),
                    unit="vCPU-hour" if rtype == "vcpu" else "GB-hour",
                    adjustments=(Adjustment("tender_discount", D("0.55")),),
                    metered_hours=D(744),
                    bureau=bureau,
                    pool="pool-3",
                    provider=PROVIDER,
                )
            )
    seed_metering(store, charges, vms, provider=PROVIDER, price_divisor=720)


HEAD = "序号,委办局,应用系统,云主机ID,云主机名称,计费项,开始日期,结束日期,用量,用量单位,单价(元),计价单位,折扣率,应收金额(元),结算金额(元),币种,备注"
# Written by hand the way the provider's billing system prints it (not by the generator).
CLEAN = """\
1,市场监督管理局,企业信用系统,vm-000001,信用库01,云主机CPU,2024-01-01,2024-02-01,1488,核·时,0.05,元/核·时,5.5折,74.40,40.92,人民币,
2,市场监督管理局,企业信用系统,vm-000001,信用库01,云主机内存,2024-01-01,2024-02-01,2976,GB·时,0.01,元/GB·时,5.5折,29.76,16.37,人民币,
3,市场监督管理局,企业信用系统,vm-000001,信用库01,高IO云硬盘,2024-01-01,2024-02-01,103.3333,GB·月,0.72,元/GB·月,5.5折,74.40,40.92,人民币,
4,教育局,智慧校园,VM-000002,校园门户,云主机CPU,2024-01-01,2024-02-01,5952,核·时,0.05,元/核·时,5.5折,297.60,163.68,人民币,
5,教育局,智慧校园,VM-000002,校园门户,云主机内存,2024-01-01,2024-02-01,11904,GB·时,0.01,元/GB·时,5.5折,119.04,65.47,人民币,
6,公安局,视频联网,vm-000003,视频存储,云主机CPU,2024-01-01,2024-02-01,2976,核·时,0.05,元/核·时,5.5折,148.80,81.84,人民币,
7,公安局,视频联网,vm-000003,视频存储,超高IO云硬盘,2024-01-01,2024-02-01,516.6667,GB·月,1.44,元/GB·月,5.5折,"744.00","409.20",人民币,按月计费
"""  # fmt: skip
PLANTED = """\
1,市场监督管理局,企业信用系统,vm-000001,信用库01,云主机CPU,2024-01-01,2024-02-01,2232,核·时,0.05,元/核·时,5.5折,111.60,61.38,人民币,3核
2,市场监督管理局,企业信用系统,vm-000001,信用库01,云主机内存,2024-01-01,2024-02-01,2976,GB·时,0.01,元/GB·时,5.5折,29.76,16.37,人民币,
3,公安局,智慧校园,VM-000002,校园门户,云主机CPU,2024-01-01,2024-02-01,5952,核·时,0.05,元/核·时,5.5折,297.60,163.68,人民币,错归公安局
4,教育局,智慧校园,VM-000002,校园门户,云主机内存,2024-01-01,2024-02-01,11904,GB·时,0.01,元/GB·时,5.5折,119.04,65.47,人民币,
5,公安局,视频联网,vm-000003,视频存储,云主机CPU,2024-01-01,2024-02-01,2976,核·时,0.05,元/核·时,5.5折,148.80,81.84,人民币,
6,公安局,视频联网,vm-000003,视频存储,网络带宽,2024-01-01,2024-02-01,10,Mbps·月,10,元/Mbps·月,5.5折,100.00,55.00,人民币,
7,公安局,视频联网,eip-000009,公网IP,弹性公网IP,2024-01-01,2024-02-01,1,个·月,40,元/个·月,5.5折,40.00,22.00,人民币,
"""  # fmt: skip


def sheet(body: str, tmp_path: Path, name: str = "settlement.csv") -> Path:
    f = tmp_path / name
    f.write_bytes((HEAD + "\n" + body).replace("\n", "\r\n").encode("gb18030"))
    return f


def workbook(body: str, tmp_path: Path) -> Path:
    """The sheet as Excel saves it: real date cells and numeric cells."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEAD.split(","))
    for line in body.splitlines():
        cells: list[object] = line.replace('"', "").split(",")
        for i in (6, 7):
            cells[i] = dt.datetime.fromisoformat(str(cells[i]))
        for i in (8, 10, 13, 14):
            cells[i] = float(str(cells[i]))
        ws.append(cells)
    f = tmp_path / "settlement.xlsx"
    wb.save(f)
    return f


def test_second_provider_layout_end_to_end(store, tmp_path):
    seed(store)
    res = import_invoice(store, sheet(CLEAN, tmp_path), provider=PROVIDER, mapping=MAPPING)
    assert res.rows == 7 and res.billed_total == D("818.40")
    assert res.billing_period == (JAN[0].astimezone(dt.UTC), JAN[1].astimezone(dt.UTC))
    run = verify_invoice(store, res.invoice_id)
    assert inv_store.findings(store, res.invoice_id) == []
    assert (run["findings"], run["matched_lines"]) == (0, 7)
    assert run["verified_total"] == run["billed_total"] == D("818.40")
    lines = inv_store.load_lines(store, res.invoice_id)
    assert [ln.bureau for ln in lines[:4:3]] == ["bureau-001", "bureau-002"]
    assert {(ln.quantity_per, ln.price_per) for ln in lines} == {("hour", "hour"), ("month", "month")}  # fmt: skip

    # The same sheet saved as XLSX: date cells, numbers as numbers.
    xlsx = import_invoice(store, workbook(CLEAN, tmp_path), provider=PROVIDER, mapping=MAPPING)
    assert verify_invoice(store, xlsx.invoice_id)["findings"] == 0
    assert xlsx.billed_total == D("818.40")

    bad = import_invoice(store, sheet(PLANTED, tmp_path, "b.csv"), provider=PROVIDER, mapping=MAPPING)  # fmt: skip
    verify_invoice(store, bad.invoice_id)
    got = [
        (r["rule_id"], r["line_numbers"], r["amount_at_stake"], r["message"])
        for r in inv_store.findings(store, bad.invoice_id)
    ]
    assert got == [
        ("Q1", [2], D("20.46"), "billed 2232 核·时, metered 1488 核·时"),
        ("O1", [4], D("0.00"), "billed to 'bureau-003' but metering has bureau-002 as the owner "
         "of VM-000002 in this period (163.68 charged to the wrong bureau)"),
        ("V1", [7], D("55.00"), "resource type '网络带宽' is not one cloudtally meters; add it to "
         "the provider's alias map if it is"),
        ("B1", [8], D("22.00"), "resource 'eip-000009' is not in the inventory: nothing was metered"),
        ("M1", [], D("-40.92"), "103.333333 GB-month of standard storage metered but not on the invoice"),
        ("M1", [], D("-409.20"), "516.666667 GB-month of performance storage metered but not on the invoice"),
    ]  # fmt: skip
    s = inv_store.summary(store, bad.invoice_id)
    assert (s["over_total"], s["under_total"], s["unverified_total"]) == (
        D("42.46"),
        D("-450.12"),
        D("55.00"),
    )
    # verified = billed − over − under − unverifiable: what the metered fleet costs
    assert s["verified_total"] == s["billed_total"] - D("42.46") + D("450.12") - D("55.00")
    assert s["verified_total"] == D("818.40")
    v1 = next(r for r in s["by_reason"] if r["rule_id"] == "V1")
    assert (v1["over"], v1["unverified"]) == (D(0), D("55.00"))


def test_foreign_currency_refused_without_a_rate_and_converted_exactly_with_one(store, tmp_path):
    seed(store)
    # The same sheet billed in US dollars at 0.5 CNY per unit: every figure doubled.
    rows = []
    for line in CLEAN.splitlines():
        cells = line.replace('"', "").split(",")
        for i in (10, 13, 14):
            cells[i] = str(D(cells[i]) * 2)
        cells[15] = "美元"
        rows.append(",".join(cells))
    f = sheet("\n".join(rows) + "\n", tmp_path, "usd.csv")
    from cloudtally.metrics import INVOICE_IMPORTS

    refused = INVOICE_IMPORTS.labels("refused_currency")._value.get()
    with pytest.raises(InvoiceError) as err:
        import_invoice(store, f, provider=PROVIDER, mapping=MAPPING)
    assert "the invoice is in USD, not CNY" in str(err.value)
    assert "exchange rate" in str(err.value)
    assert INVOICE_IMPORTS.labels("refused_currency")._value.get() == refused + 1
    assert store.scalar("SELECT count() FROM invoice_lines") == 0
    assert store.scalar("SELECT count() FROM invoices") == 0
    with pytest.raises(InvoiceError, match="already in CNY"):
        import_invoice(store, sheet(CLEAN, tmp_path), provider=PROVIDER, mapping=MAPPING, exchange_rate=D(7))  # fmt: skip

    res = import_invoice(store, f, provider=PROVIDER, mapping=MAPPING, exchange_rate=D("0.5"))
    assert (res.source_currency, res.exchange_rate, res.billed_total) == ("USD", D("0.5"), D("818.40"))  # fmt: skip
    run = verify_invoice(store, res.invoice_id)
    assert run["findings"] == 0 and run["verified_total"] == D("818.40")
    s = inv_store.summary(store, res.invoice_id)
    assert (s["currency"], s["source_currency"], s["exchange_rate"]) == ("CNY", "USD", "0.5")
    from cloudtally.invoices.report import html_report

    assert "由 USD 按 0.5 元/USD 换算为人民币" in html_report(s, [], zh=True)


def test_import_cli_refuses_a_foreign_mapping_shows_progress_and_prints_fen(
    tmp_path, monkeypatch, chdb_url
):
    from cloudtally.invoices.cli import _store, app
    from cloudtally.settings import get_settings

    monkeypatch.setenv("CLOUDTALLY_STORE_URL", chdb_url)
    monkeypatch.setenv("CLOUDTALLY_DATABASE", "cli_edges")
    monkeypatch.setenv("CLOUDTALLY_INVOICE_CHUNK_ROWS", "3")
    monkeypatch.setenv("CLOUDTALLY_LANG", "en")  # the assertions read the English summary
    get_settings.cache_clear()
    try:
        with _store() as store:
            seed(store)
        r = CliRunner()
        f = sheet(PLANTED, tmp_path)
        out = r.invoke(app, ["import", str(f), "--provider", "provider-a", "--mapping", str(MAPPING)])  # fmt: skip
        assert out.exit_code == 2
        assert "mapping is for provider 'provider-b', not 'provider-a'" in out.output
        usd = tmp_path / "usd.csv"
        usd.write_bytes(f.read_bytes().replace("人民币".encode("gb18030"), "USD".encode("gb18030")))  # fmt: skip
        out = r.invoke(app, ["import", str(usd), "--provider", PROVIDER, "--mapping", str(MAPPING)])  # fmt: skip
        assert out.exit_code == 2 and "--exchange-rate" in out.output

        args = ["import", str(f), "--provider", PROVIDER, "--mapping", str(MAPPING), "--progress"]
        out = r.invoke(app, [*args, "--verify"])
        assert out.exit_code == 0, out.output
        progress = [ln for ln in out.output.splitlines() if ln.startswith("importing: ")]
        assert progress[0].startswith("importing: 3 rows") and "(100 %)" in progress[-1]
        assert "billed=465.74 CNY" in out.output
        assert "over=42.46 under=-450.12 unverifiable=55.00" in out.output
        invoice_id = next(ln for ln in out.output.splitlines() if ln.startswith("imported: ")).split()[1]  # fmt: skip
        out = r.invoke(app, ["findings", invoice_id])
        assert out.exit_code == 0, out.output
        assert "  0.00 rows=4" in out.output and "billed=465.74 verified=818.40" in out.output
    finally:
        get_settings.cache_clear()
