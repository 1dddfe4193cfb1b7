"""The ledger against the real stores: every tamper behind its back is found and named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cloudtally.audit import issue, ledger
from cloudtally.billing import rate as billing
from cloudtally.invoices.store import wait_mutations
from cloudtally.store import Store
from tests.billing import fleet

T0 = dt.datetime(2023, 1, 15, tzinfo=fleet.SH)
T1 = dt.datetime(2023, 1, 17, tzinfo=fleet.SH)
JAN = dt.date(2023, 1, 1)


@pytest.fixture
def closed(store: Store) -> Store:
    """The hand-computed fleet, rated, its policy activated and January closed."""
    fleet.insert_usage(store, fleet.fleet_rows())
    ledger.record_policy(store, fleet.policy_text(), "fleet")
    billing.rate_period(store, fleet.policy(), T0, T1, run_kind="stream")
    billing.close_month(store, fleet.policy(), JAN, actor="alice")
    return store


def mutate(store: Store, sql: str, table: str) -> None:
    store.execute(sql)
    wait_mutations(store, table)


def test_clean_ledger_verifies(closed: Store) -> None:
    report = ledger.verify(closed)
    assert report.ok, report.problems
    assert report.entries == 2
    kinds = [e.kind for e in ledger.entries(closed)]
    assert kinds == ["policy_activated", "month_closed"]
    assert report.head == ledger.head_hash(closed) and len(report.head) == 64


def test_tampered_bill_line_is_found(closed: Store) -> None:
    mutate(
        closed,
        "ALTER TABLE bill_lines UPDATE after_cut = after_cut + 1 WHERE vm_id = 'vm2' "
        "AND resource = 'vcpu'",
        "bill_lines",
    )
    report = ledger.verify(closed)
    assert not report.ok
    first = report.first
    assert first is not None and first.seq == 2 and first.code == "rows_changed"
    assert "month_closed" in first.message and "bureau_digests[" in first.message


def test_deleted_bill_line_is_found(closed: Store) -> None:
    mutate(closed, "ALTER TABLE bill_lines DELETE WHERE vm_id = 'vm1' AND resource = 'memory'",
           "bill_lines")  # fmt: skip
    first = ledger.verify(closed).first
    assert first is not None and first.seq == 2
    assert "row(s) deleted" in first.message


def test_inserted_bill_line_is_found(closed: Store) -> None:
    row = closed.dicts("SELECT * FROM bill_lines WHERE vm_id = 'vm1' LIMIT 1")[0]
    row["resource"] = "storage_archive"
    row["after_cut"] = Decimal("99.00")
    closed.insert("bill_lines", {k: [v] for k, v in row.items()})
    first = ledger.verify(closed).first
    assert first is not None and first.seq == 2 and "1 row(s) added" in first.message


def test_policy_changed_after_activation(closed: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mutate(
        closed,
        "ALTER TABLE policy_documents UPDATE content = concat(content, '# edited') WHERE 1",
        "policy_documents",
    )
    report = ledger.verify(closed)
    assert {p.code for p in report.problems if p.seq == 1} == {"policy_changed", "rows_changed"}
    assert report.first is not None and report.first.seq == 1
    # A policy file edited on disk but never activated is reported too.
    f = tmp_path / "policy.yaml"
    f.write_text(fleet.policy_text().replace("0.55", "0.56"), encoding="utf-8")
    codes = {p.code for p in ledger.verify(closed, policy_file=f).problems}
    assert "policy_file_not_activated" in codes


def test_chain_breaks_are_found(closed: Store) -> None:
    mutate(
        closed,
        "ALTER TABLE audit_ledger UPDATE reason = 'nothing to see' WHERE seq = 1",
        "audit_ledger",
    )
    report = ledger.verify(closed)
    assert {(p.seq, p.code) for p in report.problems} >= {(1, "entry_altered")}


def test_deleted_entry_is_found(closed: Store) -> None:
    ledger.append(closed, "rerate", {"run_id": "none"}, actor="bob", reason="probe")
    mutate(closed, "ALTER TABLE audit_ledger DELETE WHERE seq = 2", "audit_ledger")
    codes = {(p.seq, p.code) for p in ledger.verify(closed).problems}
    assert (3, "seq_gap") in codes and (3, "chain_break") in codes


def test_close_again_without_reason_is_refused(closed: Store) -> None:
    with pytest.raises(issue.IssueError, match="restatement"):
        billing.close_month(closed, fleet.policy(), JAN, actor="alice")


def test_restatement_keeps_original_and_nets_to_the_fen(closed: Store) -> None:
    before = issue.issued_statement(closed, JAN)
    assert before["closed"] and before["revision"] == 0 and not before["pending_restatement"]
    original = before["net"]
    # Late data: vm1 gets more memory on the 16th; a re-rate changes the live lines.
    rows = fleet.fleet_rows()
    for r in rows:
        if r["vm_id"] == "vm1" and r["hour"] >= fleet.local_hour(16, 0):
            r["mem_gb"] = r["mem_gb"] * 2
    fleet.insert_usage(closed, rows)
    billing.rate_period(closed, fleet.policy(), T0, T1, run_kind="rerate", reason="late data",
                        actor="bob")  # fmt: skip
    pending = issue.issued_statement(closed, JAN)
    assert pending["net"] == original and pending["pending_restatement"]
    assert pending["live"] != original
    billing.close_month(closed, fleet.policy(), JAN, actor="bob", reason="late memory samples",
                        reference="ticket-7")  # fmt: skip
    after = issue.issued_statement(closed, JAN)
    assert after["revision"] == 1 and after["original"] == original
    (corr,) = after["corrections"]
    assert corr["reason"] == "late memory samples" and corr["reference"] == "ticket-7"
    assert after["net"] == original + corr["amount"] == after["live"]
    assert not after["pending_restatement"]
    # Reversals and replacements are real lines: Σ reversal = − Σ replaced original lines.
    rev = closed.rows(
        "SELECT entry, count(), sum(after_cut) FROM restatement_lines GROUP BY entry ORDER BY entry"
    )
    assert [r[0] for r in rev] == ["reversal", "replacement"]
    assert Decimal(rev[0][2]) < 0 < Decimal(rev[1][2])
    # The original revision is still readable line for line, and everything verifies.
    assert ledger.verify(closed).ok
    assert [e.kind for e in ledger.entries(closed)][-1] == "restatement"
    # A bureau sees its own original, corrections and net.
    b = issue.issued_statement(closed, JAN, bureau="b1")
    assert b["net"] == b["live"]


def test_invoice_line_edited_after_verification_is_found(store: Store) -> None:
    """An import and each verification run are entries; editing a line afterwards is found."""
    from cloudtally.invoices.generator import (
        generate_invoice,
        render_provider_csv,
        seed_metering,
        simulate_fleet,
    )
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice

    exp, vms = simulate_fleet(seed=3, vms=12)
    seed_metering(store, exp, vms)
    lines, _ = generate_invoice(exp, vms, errors=[])
    res = import_invoice(store, render_provider_csv(lines), provider="provider-a")
    run = verify_invoice(store, res.invoice_id)
    kinds = [e.kind for e in ledger.entries(store)]
    assert kinds == ["invoice_imported", "verification_run"]
    assert run["ledger_head"] == ledger.head_hash(store)
    assert ledger.verify(store).ok
    mutate(
        store,
        f"ALTER TABLE invoice_lines UPDATE amount = amount - 1 WHERE invoice_id = "
        f"'{res.invoice_id}' AND line_no = 2",
        "invoice_lines",
    )
    mutate(
        store,
        "ALTER TABLE verification_totals UPDATE over = over + 1 WHERE invoice_id = "
        f"'{res.invoice_id}'",
        "verification_totals",
    )
    report = ledger.verify(store)
    by_seq = {p.seq: p for p in report.problems}
    assert by_seq[1].code == "rows_changed" and "invoice_lines" in by_seq[1].message
    assert by_seq[2].code == "rows_changed" and "verification_totals" in by_seq[2].message
    assert report.first is not None and report.first.seq == 1
