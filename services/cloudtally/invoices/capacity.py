"""Verification hook for rule C1 (core.rules.allocation): capacity billed but not present.

Runs after the invoice's own verification: mismatches observed in the billing
period are priced against the invoice's vCPU and memory lines, each finding is
added to the run, and its stake counts as over-billing of the owner's group.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from cloudtally.core.invoice import norm_resource_id
from cloudtally.core.rules.allocation import capacity_findings
from cloudtally.core.verification import GroupTotals, VerificationResult
from cloudtally.invoices import store as inv_store
from cloudtally.queries.allocation import mismatches
from cloudtally.store import Store


def add_capacity_findings(
    store: Store,
    result: VerificationResult,
    invoice_id: str,
    provider: str,
    period: tuple[dt.datetime, dt.datetime],
) -> int:
    """Append C1 findings to ``result`` (in place); returns how many."""
    found = mismatches(store, start=int(period[0].timestamp()), end=int(period[1].timestamp()))
    if not any(m.missing_share > 0 for m in found):
        return 0
    pools = dict(
        store.rows(
            "SELECT vm_id, argMax(pool, event_ts) FROM vm_inventory FINAL "
            "WHERE vm_id IN %(ids)s GROUP BY vm_id",
            {"ids": tuple(sorted({m.vm_id for m in found}))},
        )
    )
    # Only the lines of VMs short of capacity (a 1M-line invoice is never loaded whole);
    # in batches, so no query grows past the server's query size.
    short = sorted({norm_resource_id(m.vm_id) for m in found if m.missing_share > 0})
    lines = sorted(
        (
            ln
            for i in range(0, len(short), 2_000)
            for ln in inv_store.load_lines(store, invoice_id, keys=short[i : i + 2_000])
            if ln.resource_type in ("vcpu", "memory")
        ),
        key=lambda ln: ln.line_no,
    )
    by_vm = {m.vm_id.lower(): m.vm_id for m in found}
    added = 0
    for f in capacity_findings(lines, found):
        vm = by_vm.get(f.resource_id.lower(), f.resource_id)
        owner = (provider, pools.get(vm, ""), f.bureau)
        if owner not in result.totals:
            # sorted: the totals' order depends on how the pass was split (partitions,
            # the store's settled keys), the pool a finding goes to must not
            same = sorted(k for k in result.totals if k[0] == provider and k[2] == f.bureau)
            owner = same[0] if same else owner
        f = replace(f, provider=owner[0], pool=owner[1])
        result.findings.append(f)
        t = result.totals.setdefault(owner, GroupTotals())
        t.findings += 1
        t.over += f.amount_at_stake
        added += 1
    return added
