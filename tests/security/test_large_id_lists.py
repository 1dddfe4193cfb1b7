"""A request naming 30,000 VMs works: the ids go to the store as data, not as SQL text."""

from __future__ import annotations

from cloudtally.store import Store
from cloudtally.store.idsets import SPILL_ITEMS
from tests.api.fleet import Api, seeded  # noqa: F401  (module-scoped seeded API)

B = "/api/v1/billing"
MANY = [f"vm-{i:06d}-{'x' * 20}" for i in range(30_000)]  # ≈ 1 MiB of SQL if inlined


def test_what_if_and_rate_naming_30000_vms(seeded: Api) -> None:  # noqa: F811
    period = {"from": "2023-10-09", "to": "2023-10-23"}
    named = ["edu-idle", "health-idle", *MANY]
    wi = seeded.post(f"{B}/what-if", {**period, "vm_ids": named, "tariff_version": "2023.1",
                                      "record": False})  # fmt: skip
    assert wi.status_code == 200, wi.text[:500]
    assert [r["bureau"] for r in wi.json()["rows"]] == ["edu", "health"]
    small = seeded.post(f"{B}/what-if", {**period, "vm_ids": ["edu-idle", "health-idle"],
                                         "tariff_version": "2023.1", "record": False})  # fmt: skip
    assert small.json()["rows"] == wi.json()["rows"]  # same answer through the id set
    r = seeded.post(f"{B}/rate", {**period, "vm_ids": named})
    assert r.status_code == 201, r.text[:500]


def test_in_list_spills_above_the_threshold(store: Store) -> None:
    store.insert("vm_inventory", {"vm_id": ["a", "b"], "event_ts": [0, 0], "event": ["created"] * 2,
        "name": ["", ""], "bureau": ["x", "x"], "system": ["s", "s"], "pool": ["p", "p"],
        "provider": ["q", "q"], "vcpu": [1, 1], "mem_gb": [1, 1], "disk_ids": [[], []],
        "disk_size_gb": [[], []], "disk_tiers": [[], []], "version": [1, 1]})  # fmt: skip
    ids = tuple(["a", *MANY[: SPILL_ITEMS * 3]])
    n = store.scalar("SELECT count() FROM vm_inventory WHERE vm_id IN %(ids)s", {"ids": ids})
    assert n == 1
    assert store.scalar("SELECT count() FROM id_sets") == len(ids)
