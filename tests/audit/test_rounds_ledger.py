"""Rightsizing-round decisions are ledger entries: a decision changed behind the ledger's
back is found (both engines)."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.audit import ledger
from cloudtally.core.access import Principal
from cloudtally.core.idle import UnitPrices
from cloudtally.invoices.store import wait_mutations
from cloudtally.rounds import store as rounds
from cloudtally.store import Store
from tests.api.fleet import D0, D1, plant, policy

ADMIN = Principal("admin", "admin")
HEALTH = Principal("bureau:health", "bureau", "health")
PRICES = UnitPrices(vcpu_year=Decimal("600"), mem_gb_year=Decimal("200"))


def test_decisions_are_ledger_entries(store: Store) -> None:
    pol = policy()
    plant(store, pol)
    r1 = rounds.open_round(store, pol, ADMIN, D0, D1, quarter="2023-Q4", prices=lambda _s: PRICES)
    rounds.decide(store, r1, "idle", "health-idle", "declined", "还在用", HEALTH)
    rounds.decide(store, r1, "rightsizing", "health-oversized", "accepted", "", HEALTH)
    entries = [e for e in ledger.entries(store) if e.kind == "rows"]
    assert [e.actor for e in entries] == ["bureau:health", "bureau:health"]
    assert entries[0].reason.startswith("declined") and entries[0].row_count == 1
    assert ledger.verify(store).ok
    store.execute(
        "ALTER TABLE rightsizing_decisions UPDATE reason = '同意' WHERE vm_id = 'health-idle'"
    )
    wait_mutations(store, "rightsizing_decisions")
    first = ledger.verify(store).first
    assert first is not None and first.seq == entries[0].seq and first.code == "rows_changed"
