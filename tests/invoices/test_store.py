"""Invoices on the real stores: atomic imports, duplicates, verification runs, bureau scope."""

from __future__ import annotations

import pytest

from cloudtally.core.invoice import InvoiceError
from cloudtally.core.verification import VerificationPolicy
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_focus_csv,
    render_provider_csv,
    render_provider_xlsx,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import ImportLimits, ImportRejected, import_invoice
from cloudtally.invoices.service import verify_invoice

PROVIDER = "provider-a"


def nothing_landed(store) -> None:
    assert store.scalar("SELECT count() FROM invoice_lines") == 0
    assert store.scalar("SELECT count() FROM invoices") == 0


def test_planted_errors_found_exactly_from_the_store_and_scoped_by_bureau(store, tmp_path):
    exp, vms = simulate_fleet(seed=7, vms=40, gap_share=0.3, low_util_share=0.4)
    seed_metering(store, exp, vms)
    lines, planted = generate_invoice(
        exp, vms, errors=[e for e in ALL_ERRORS if e != "R3"], bill_unmetered_hours=False
    )
    f = tmp_path / "invoice.csv"
    f.write_bytes(render_provider_csv(lines, encoding="gb18030"))
    res = import_invoice(store, f, provider=PROVIDER, limits=ImportLimits(chunk_rows=25))
    assert res.status == "imported" and res.rows == len(lines)
    assert res.billing_period == (exp[0].period_start, exp[0].period_end)
    run = verify_invoice(
        store, res.invoice_id, policy=VerificationPolicy(bill_unmetered_hours=False)
    )
    stored = inv_store.findings(store, res.invoice_id)
    got = sorted((r["rule_id"], tuple(r["line_numbers"]), r["amount_at_stake"]) for r in stored)
    want = sorted((p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted)
    assert got == want
    assert run["findings"] == len(planted)
    assert [r["seq"] for r in stored] == list(range(1, len(stored) + 1))

    summary = inv_store.summary(store, res.invoice_id)
    assert summary["billed_total"] == res.billed_total == sum(ln.amount for ln in lines)
    stakes = sum(p.amount_at_stake for p in planted)
    assert summary["verified_total"] == summary["billed_total"] - stakes
    assert {r["rule_id"] for r in summary["by_reason"]} == {p.rule_id for p in planted}

    bureau = next(r["bureau"] for r in stored if r["bureau"])
    mine = inv_store.findings(store, res.invoice_id, bureau=bureau)
    assert mine and all(r["bureau"] == bureau for r in mine)
    scoped = inv_store.summary(store, res.invoice_id, bureau=bureau)
    assert {g["bureau"] for g in scoped["by_group"]} == {bureau}
    assert scoped["over_total"] - -scoped["under_total"] == sum(
        r["amount_at_stake"] for r in mine if r["severity"] != "info"
    )
    assert scoped["billed_total"] < summary["billed_total"]
    assert inv_store.findings(store, res.invoice_id, rule_id="Q1")[0]["evidence"][
        "metered_quantity"
    ]
    # the console's amount filter (a bug on chDB: the WHERE read the SELECT's text alias)
    cut = sorted(abs(r["amount_at_stake"]) for r in stored)[len(stored) // 2]
    big = inv_store.findings(store, res.invoice_id, min_abs_amount=cut)
    assert big and {r["seq"] for r in big} == {
        r["seq"] for r in stored if abs(r["amount_at_stake"]) >= cut
    }


def test_clean_focus_invoice_verifies_to_zero_findings(store, tmp_path):
    exp, vms = simulate_fleet(seed=8, vms=20)
    seed_metering(store, exp, vms)
    lines, _ = generate_invoice(exp, vms, form="focus")
    data = render_focus_csv(
        lines, provider=PROVIDER, billing_period=(exp[0].period_start, exp[0].period_end)
    )
    res = import_invoice(store, data, provider=PROVIDER, fmt="focus", file_name="focus.csv")
    run = verify_invoice(store, res.invoice_id)
    assert run["findings"] == 0 and run["matched_lines"] == len(lines)
    assert run["verified_total"] == run["billed_total"] == sum(e.expected_amount for e in exp)


def test_same_file_twice_is_recognised(store, tmp_path):
    exp, vms = simulate_fleet(seed=9, vms=5)
    lines, _ = generate_invoice(exp, vms)
    data = render_provider_xlsx(lines)
    first = import_invoice(store, data, provider=PROVIDER, fmt="xlsx")
    again = import_invoice(store, data, provider=PROVIDER, fmt="xlsx")
    assert first.status == "imported" and again.status == "duplicate"
    assert again.invoice_id == first.invoice_id
    assert store.scalar("SELECT count() FROM invoice_lines") == len(lines)
    assert len(inv_store.list_invoices(store)) == 1
    assert inv_store.load_lines(store, first.invoice_id)[0].quantity == lines[0].quantity


def test_bad_rows_reject_the_whole_file_and_nothing_lands(store, tmp_path):
    exp, vms = simulate_fleet(seed=10, vms=30)
    lines, _ = generate_invoice(exp, vms)
    text = render_provider_csv(lines).decode("utf-8-sig").splitlines()
    text[70] = text[70].replace(text[70].split(",")[9], "12x.5")  # amount of row 71
    f = tmp_path / "bad.csv"
    f.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(ImportRejected) as err:
        import_invoice(store, f, provider=PROVIDER, limits=ImportLimits(chunk_rows=10))
    assert [(e.row, e.column) for e in err.value.errors] == [(71, "金额")]
    nothing_landed(store)


@pytest.mark.parametrize(
    "case", ["wrong_encoding", "missing_columns", "empty", "huge", "header_only"]
)
def test_malformed_files_give_clear_errors(store, tmp_path, case):
    exp, vms = simulate_fleet(seed=11, vms=3)
    lines, _ = generate_invoice(exp, vms)
    f = tmp_path / "x.csv"
    mapping = None
    limits = ImportLimits()
    if case == "wrong_encoding":
        f.write_bytes(render_provider_csv(lines, encoding="gb18030"))
        mapping = tmp_path / "m.yaml"
        mapping.write_text(
            "provider: provider-a\nencoding: utf-8\ncolumns:\n  resource_id: 资源ID\n"
            "  resource_type: 资源类型\n  period: 计费周期\n  quantity: 数量\n"
            "  amount: 金额\n",
            encoding="utf-8",
        )
        match = "not valid utf-8"
    elif case == "missing_columns":
        f.write_text("资源ID,资源类型,计费周期\nvm-1,vCPU,2024-01\n", encoding="utf-8")
        match = "missing columns"
    elif case == "empty":
        f.write_bytes(b"")
        match = "empty"
    elif case == "header_only":
        f.write_bytes(render_provider_csv([]))
        match = "no invoice lines"
    else:
        f.write_bytes(render_provider_csv(lines))
        limits = ImportLimits(max_bytes=200)
        match = "limit is 200 bytes"
    with pytest.raises(InvoiceError, match=match):
        import_invoice(store, f, provider=PROVIDER, mapping=mapping, limits=limits)
    nothing_landed(store)


def test_exports_and_cli_end_to_end(store, tmp_path, monkeypatch):
    from openpyxl import load_workbook

    from cloudtally.invoices import report

    exp, vms = simulate_fleet(seed=12, vms=15, low_util_share=0.5)
    seed_metering(store, exp, vms)
    lines, planted = generate_invoice(exp, vms, errors=["Q1", "R2", "B1"])
    res = import_invoice(store, render_provider_csv(lines), provider=PROVIDER)
    verify_invoice(store, res.invoice_id)
    rows = inv_store.findings(store, res.invoice_id)
    summary = inv_store.summary(store, res.invoice_id)
    text = report.findings_csv(rows, zh=True).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("序号,规则") and len(text.splitlines()) == 4
    wb = load_workbook(__import__("io").BytesIO(report.findings_xlsx(rows, summary, zh=True)))
    assert wb.sheetnames == ["汇总", "问题明细"] and wb["问题明细"].max_row == 4
    page = report.html_report(summary, rows)
    assert "<script" not in page and "http" not in page.split("<style>")[1].split("</style>")[0]
    for p in planted:
        assert format(p.amount_at_stake, ",.2f") in page


def test_verification_in_key_partitions_equals_one_pass(store, tmp_path):
    """Partitioned by resource key (odd raw ids included), the run is the same as one pass."""
    import dataclasses

    exp, vms = simulate_fleet(seed=11, vms=40, gap_share=0.3, low_util_share=0.4)
    # Two VMs whose metered ids are not in normalised form (capitals, a full-width digit):
    # the invoice still names them, and partitioning must put both sides together.
    rename = {"vm-000003": "VM-000003", "vm-000017": "vm-00001\uff17"}
    exp = [
        dataclasses.replace(e, resource_id=rename.get(e.resource_id, e.resource_id)) for e in exp
    ]
    vms = {rename.get(k, k): dataclasses.replace(v, vm_id=rename.get(k, k)) for k, v in vms.items()}
    seed_metering(store, exp, vms)
    lines, planted = generate_invoice(exp, vms, errors=[e for e in ALL_ERRORS if e != "R3"])
    res = import_invoice(store, render_provider_csv(lines), provider=PROVIDER)

    def outcome(**kw):
        run = verify_invoice(store, res.invoice_id, **kw)
        rows = inv_store.findings(store, res.invoice_id, run_id=run["run_id"])
        for r in rows:
            del r["seq"]
        summary = inv_store.summary(store, res.invoice_id)
        return (
            {k: v for k, v in run.items() if k not in ("run_id", "ledger_head")},
            rows,
            summary["by_group"],
            summary["by_reason"],
        )

    whole = outcome()
    parted = outcome(partition_lines=7)
    assert parted == whole
    got = sorted((r["rule_id"], tuple(r["line_numbers"]), r["amount_at_stake"]) for r in whole[1])
    assert got == sorted((p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted)
    assert whole[0]["matched_lines"] > 0
    parts = inv_store.plan_partitions(
        store,
        res.invoice_id,
        inv_store.get_invoice(store, res.invoice_id)["import_id"],
        PROVIDER,
        res.billing_period,
        lines=res.rows,
        partition_lines=7,
    )
    assert len(parts) > 5
    assert set(parts[0].odd) == set(rename.values())


def test_import_and_verify_leave_the_garbage_collector_as_found(store, tmp_path):
    """They pause the cyclic GC while building lines; success or failure, it resumes."""
    import gc

    exp, vms = simulate_fleet(seed=12, vms=5)
    seed_metering(store, exp, vms)
    lines, _ = generate_invoice(exp, vms)
    res = import_invoice(store, render_provider_csv(lines), provider=PROVIDER)
    assert gc.isenabled()
    verify_invoice(store, res.invoice_id)
    assert gc.isenabled()
    bad = render_provider_csv(lines).replace(b"\n", b"\nvm-x,,vCPU,2024-01,abc,h,1,1,1,1\n", 1)
    with pytest.raises(ImportRejected):
        import_invoice(store, bad, provider=PROVIDER)
    assert gc.isenabled()
