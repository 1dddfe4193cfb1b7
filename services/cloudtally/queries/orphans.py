"""Orphan samples: samples of VM ids the inventory has never announced.

The rule: such samples are stored (raw samples are the truth, and inventory may
simply be late), kept out of everything that needs an owner (rollups, bills,
bureau-scoped reads), counted in ``/api/v1/fleet`` and listed at
``/api/v1/fleet/orphans`` for admins and auditors, and exported as
``cloudtally_orphan_vms`` / ``cloudtally_orphan_oldest_age_seconds``. When the
VM's first inventory event arrives, the worker queues its sampled hours for the
rollup, so nothing metered before the inventory is lost. An orphan older than
the alert's grace period (CloudtallyOrphanSamples, 1 h) means a collector meters
a VM that no inventory source knows: a typo in ids, or a missing import.
"""

from __future__ import annotations

from typing import Any

from cloudtally.store import Store

KNOWN = "SELECT DISTINCT vm_id FROM vm_inventory"

# Per orphan VM: distinct sample times, first/last sample and when it first arrived
# (version is the ingest time in ms).
ORPHANS = f"""
SELECT vm_id, uniqExact(ts) AS samples, toInt64(min(ts)) AS first_ts,
       toInt64(max(ts)) AS last_ts, intDiv(min(version), 1000) AS first_ingested
FROM samples
WHERE vm_id NOT IN ({KNOWN})
GROUP BY vm_id
"""


def orphan_summary(store: Store) -> dict[str, Any]:
    row = store.dicts(
        f"SELECT count() AS orphan_vms, sum(samples) AS orphan_samples, "
        f"min(first_ingested) AS oldest FROM ({ORPHANS})"
    )[0]
    vms = int(row["orphan_vms"] or 0)
    return {
        "orphan_vms": vms,
        "orphan_samples": int(row["orphan_samples"] or 0) if vms else 0,
        "oldest_orphan_ingested": int(row["oldest"]) if vms else None,
    }


def list_orphans(store: Store, *, limit: int = 100, offset: int = 0) -> tuple[int, list[Any]]:
    total = store.scalar(f"SELECT count() FROM ({ORPHANS})")
    rows = store.dicts(
        f"SELECT * FROM ({ORPHANS}) ORDER BY first_ingested, vm_id "
        "LIMIT %(limit)s OFFSET %(offset)s",
        {"limit": limit, "offset": offset},
    )
    return int(total or 0), rows


def adopted_hours(store: Store, vm_ids: list[str]) -> list[tuple[str, int]]:
    """(vm_id, hour) of samples of these VMs that the inventory does not know yet.

    Called before an inventory batch is written: these hours were skipped by the
    rollup (no owner) and must be recomputed now that the VMs get one.
    """
    ids = set(vm_ids)
    if not ids:
        return []
    # Most inventory events are of VMs the inventory knows (resizes, moves): for those
    # there is nothing to adopt, and the samples table is not read at all.
    known = store.rows(
        "SELECT DISTINCT vm_id FROM vm_inventory WHERE vm_id IN %(ids)s",
        {"ids": tuple(sorted(ids))},
    )
    unknown = ids - {str(r[0]) for r in known}
    if not unknown:
        return []
    rows = store.rows(
        "SELECT DISTINCT vm_id, intDiv(toInt64(ts), 3600) * 3600 AS hour FROM samples "
        "WHERE vm_id IN %(ids)s",
        {"ids": tuple(sorted(unknown))},
    )
    return [(str(v), int(h)) for v, h in rows]
