"""The store computes the same ownership periods as the core rule, on both engines."""

from __future__ import annotations

import datetime as dt

from cloudtally.core.ownership import OwnerEvent, periods_from_events
from cloudtally.queries.ownership import owned_at, ownership
from cloudtally.store import Store
from tests.security.ownership_fleet import (
    MOVE_1,
    MOVE_2,
    MOVER,
    T0,
    inventory_events,
    seed_moving_fleet,
)


def _utc(s: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(s, dt.UTC)


def test_store_periods_match_the_core_rule(store: Store) -> None:
    seed_moving_fleet(store, hours=1)
    deleted = {**inventory_events()[0], "event_ts": T0 + 3 * 86_400, "event": "deleted"}
    store.insert("vm_inventory", {k: [v] for k, v in deleted.items()})
    by_vm: dict[str, list[OwnerEvent]] = {}
    for e in [*inventory_events(), deleted]:
        by_vm.setdefault(e["vm_id"], []).append(
            OwnerEvent(_utc(e["event_ts"]), e["bureau"], e["event"] == "deleted")
        )
    got = ownership(store)
    assert got == {vm: periods_from_events(vm, evs) for vm, evs in by_vm.items()}
    assert [(p.bureau, p.start) for p in got[MOVER]] == [
        ("edu", _utc(T0)),
        ("health", _utc(MOVE_1)),
        ("edu", _utc(MOVE_2)),
    ]
    assert list(ownership(store, bureau="health", vm_id=MOVER)) == [MOVER]
    assert ownership(store, bureau="nobody") == {}


def test_owned_at_keeps_only_the_owners_instants(store: Store) -> None:
    seed_moving_fleet(store)
    sql = owned_at("SELECT vm_id, ts FROM samples FINAL WHERE vm_id = %(vm)s")
    health = store.scalar(f"SELECT count() FROM ({sql})", {"vm": MOVER, "bureau": "health"})
    edu = store.scalar(f"SELECT count() FROM ({sql})", {"vm": MOVER, "bureau": "edu"})
    assert health == (MOVE_2 - MOVE_1) // 3600
    assert edu == 30 * 24 - health
