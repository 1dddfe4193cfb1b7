"""Kept reads (cloudtally.queries.memo) on both engines: a stamp is reused only while
nothing was written to its table through the store, and a kept value is recomputed as
soon as its stamp changes."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.queries import memo
from cloudtally.store import Store


def _event(vm: str, version: int) -> dict[str, list]:
    return {
        "vm_id": [vm], "event_ts": [1_767_196_800], "event": ["created"], "name": [vm],
        "bureau": ["edu"], "system": ["s"], "pool": ["p"], "provider": ["a"], "vcpu": [2],
        "mem_gb": [Decimal(4)], "version": [version],
    }  # fmt: skip


def test_stamps_follow_writes_and_kept_values_follow_stamps(store: Store) -> None:
    before = store.write_mark("vm_inventory")
    store.insert("vm_inventory", _event("vm-1", 1))
    assert store.write_mark("vm_inventory")[0] == before[0] + 1
    s1 = memo.stamp(store, "vm_inventory", "1", {})
    assert s1 == (1, 1)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return int(store.scalar("SELECT count() FROM vm_inventory"))

    assert memo.cached(store, "k", s1, compute) == 1
    assert memo.cached(store, "k", memo.stamp(store, "vm_inventory", "1", {}), compute) == 1
    assert len(calls) == 1  # nothing written: the stamp and the value are kept

    store.insert("vm_inventory", _event("vm-2", 7))  # an insert through the store
    s2 = memo.stamp(store, "vm_inventory", "1", {})
    assert s2 == (2, 7)
    assert memo.cached(store, "k", s2, compute) == 2 and len(calls) == 2

    # INSERT ... SELECT and ALTER name their table; a write to another table does not count
    other = store.write_mark("vm_inventory")
    store.execute("INSERT INTO worker_state SELECT 'x', 1, now()")
    assert store.write_mark("vm_inventory") == other
    store.execute(f"ALTER TABLE {store.database}.vm_inventory DELETE WHERE vm_id = 'nobody'")
    assert store.write_mark("vm_inventory")[0] == other[0] + 1
    store.note_write("CREATE VIEW v AS SELECT 1")  # a statement whose target is not parsed
    assert store.write_mark("vm_inventory")[1] == other[1] + 1  # ... counts for every table
