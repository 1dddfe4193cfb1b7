"""Observed versus allocated capacity: mismatches with evidence, and rule C1 in verification.

Observations arrive the way collectors send them (heartbeats through the
worker's sink); the invoice is a provider CSV imported and verified by the
invoices modules against seeded metering.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudtally.core.heartbeat import Heartbeat
from cloudtally.core.rules.allocation import Allocation, Observation, find_mismatches
from cloudtally.core.verification import VerificationPolicy
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    generate_invoice,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice
from cloudtally.queries.allocation import mismatches
from cloudtally.store import Store
from cloudtally.worker.sink import IngestSink, RawMessage

H = 3600


def test_mismatch_runs_follow_the_allocation_in_force() -> None:
    allocs = [
        Allocation("vm1", 0, "教育局", 16, Decimal(64)),
        Allocation("vm1", 10 * H, "教育局", 8, Decimal(64)),  # resized to what it has
    ]
    obs = [Observation("vm1", t * H, "prometheus:dc1", 8, 62.8) for t in range(1, 13)]
    obs.append(Observation("vm1", 13 * H, "prometheus:dc1", 8, 32.0))
    found = find_mismatches(obs, allocs)
    assert [(m.resource, m.allocated, m.observed, m.first_seen, m.last_seen) for m in found] == [
        ("vcpu", 16, 8, 1 * H, 9 * H),  # until the resize; 62.8 GB of 64 is within tolerance
        ("memory", 64, Decimal("32.0"), 13 * H, 13 * H),
    ]
    assert found[0].missing_share == Decimal("0.5") and found[0].interval == H


def _observe(store: Store, vm_ids: list[str], times: list[int], vcpu: float, mem: float) -> None:
    sink = IngestSink(store, consumer="collectors-test")
    msgs = [
        RawMessage(
            "samples",
            0,
            i,
            Heartbeat(
                source="prometheus:dc1",
                partition=0,
                sent_at=t,
                data_from=t,
                data_until=t,
                allocation=tuple((vm, vcpu, mem) for vm in vm_ids),
            ).to_json(),
        )
        for i, t in enumerate(times)
    ]
    sink.write_samples(msgs)


def test_capacity_not_present_is_over_billing_rule_c1(store: Store, tmp_path) -> None:
    exp, vms = simulate_fleet(seed=3, vms=12, gap_share=0.0, low_util_share=0.0, deleted=0)
    seed_metering(store, exp, vms)  # inventory says 4 vCPU, 8 GB for every VM
    start, end = exp[0].period_start, exp[0].period_end
    short_vm = sorted(vms)[0]
    every_6h = list(range(int(start.timestamp()), int(end.timestamp()), 6 * H))
    _observe(store, [short_vm], every_6h, 2, 7.8)  # the guest sees 2 vCPUs
    _observe(store, sorted(vms)[1:3], every_6h, 4, 7.7)  # as allocated (7.7 GB of 8: fine)

    found = mismatches(store, start=0, end=int(end.timestamp()) + 1)
    assert [(m.vm_id, m.resource, m.allocated, m.observed) for m in found] == [
        (short_vm, "vcpu", 4, 2)
    ]
    assert found[0].observations == len(every_6h) and found[0].sources == ("prometheus:dc1",)

    lines, planted = generate_invoice(exp, vms, errors=[], bill_unmetered_hours=False)
    assert planted == []
    f = tmp_path / "invoice.csv"
    f.write_bytes(render_provider_csv(lines, encoding="gb18030"))
    res = import_invoice(store, f, provider="provider-a")
    run = verify_invoice(
        store, res.invoice_id, policy=VerificationPolicy(bill_unmetered_hours=False)
    )
    stored = inv_store.findings(store, res.invoice_id)
    assert [r["rule_id"] for r in stored] == ["C1"], stored
    vcpu_line = next(
        ln for ln in lines if ln.resource_id == short_vm and ln.resource_type == "vcpu"
    )
    c1 = stored[0]
    assert c1["line_numbers"] == [vcpu_line.line_no]
    assert c1["amount_at_stake"] == (vcpu_line.amount / 2).quantize(Decimal("0.01"))
    assert c1["evidence"]["allocated"] == "4" and c1["evidence"]["observed"] == "2"
    assert run["over_total"] == c1["amount_at_stake"]
    assert dt.datetime.fromisoformat(c1["evidence"]["first_seen"]) == start
