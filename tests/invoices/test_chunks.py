"""An import parsed and inserted in many small chunks is the import of one chunk (both
stores): the same lines, findings, totals, rejections and ledger hash; the ledger still
verifies (its re-read hashes every line the unstreamed way)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudtally.audit import ledger
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import ImportLimits, ImportRejected, import_invoice
from cloudtally.invoices.service import verify_invoice

PROVIDER = "provider-a"


def _outcome(store: Any, data: bytes, chunk_rows: int) -> tuple[Any, ...]:
    res = import_invoice(store, data, provider=PROVIDER, limits=ImportLimits(chunk_rows=chunk_rows))
    run = verify_invoice(store, res.invoice_id)
    rows = inv_store.findings(store, res.invoice_id, run_id=run["run_id"])
    summary = inv_store.summary(store, res.invoice_id)
    lines = inv_store.load_lines(store, res.invoice_id)
    entries = ledger.entries(store)
    imported = next(e for e in entries if e.subject.get("invoice_id") == res.invoice_id)
    return (
        (res.rows, res.billed_total, res.billing_period),
        {k: v for k, v in run.items() if k not in ("run_id", "ledger_head", "invoice_id")},
        rows,
        summary["by_group"],
        summary["by_reason"],
        lines,
        (imported.row_count, imported.content_hash != ""),
    )


def test_many_chunks_import_and_verify_as_one(store) -> None:
    exp, vms = simulate_fleet(seed=12, vms=40, gap_share=0.3, low_util_share=0.4)
    seed_metering(store, exp, vms)
    lines, planted = generate_invoice(exp, vms, errors=[e for e in ALL_ERRORS if e != "R3"])
    data = render_provider_csv(lines)
    one = _outcome(store, data, 1_000_000)
    # The same rows under another file hash (a blank row at the end is skipped).
    many = _outcome(store, data + b",,,\r\n", 7)
    assert many == one
    found = sorted((r["rule_id"], tuple(r["line_numbers"]), r["amount_at_stake"]) for r in one[2])
    assert found == sorted((p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted)
    assert ledger.verify(store).ok


@pytest.mark.parametrize("chunk_rows", [1_000_000, 7, 1])
def test_many_chunks_reject_the_same_rows(store, chunk_rows: int) -> None:
    exp, vms = simulate_fleet(seed=13, vms=30)
    lines, _ = generate_invoice(exp, vms)
    text = render_provider_csv(lines).decode("utf-8-sig").splitlines()
    for i in (5, 40, 41, 77):  # amounts of rows 6, 41, 42 and 78
        text[i] = text[i].replace(text[i].split(",")[9], "12x.5")
    with pytest.raises(ImportRejected) as err:
        import_invoice(
            store,
            "\n".join(text).encode(),
            provider=PROVIDER,
            limits=ImportLimits(chunk_rows=chunk_rows),
        )
    assert [(e.row, e.column) for e in err.value.errors] == [
        (6, "金额"),
        (41, "金额"),
        (42, "金额"),
        (78, "金额"),
    ]
    assert err.value.error_count == 4 and err.value.rows == len(lines)
    assert store.scalar("SELECT count() FROM invoice_lines") == 0
    assert inv_store.list_invoices(store) == []
