"""Orphan samples: samples of VM ids the inventory has never announced.

The rule: such samples are stored (raw samples are the truth, and inventory may
simply be late), kept out of everything that needs an owner (rollups, bills,
bureau-scoped reads), counted in ``/api/v1/fleet`` and listed at
``/api/v1/fleet/orphans`` for admins and auditors, and exported as
``cloudtally_orphan_vms`` / ``cloudtally_orphan_oldest_age_seconds``. When the
VM's first inventory event arrives, the leader's adoption step queues its sampled
hours for the rollup (cloudtally.worker.adoption), so nothing metered before the
inventory is lost. An orphan older than
the alert's grace period (CloudtallyOrphanSamples, 1 h) means a collector meters
a VM that no inventory source knows: a typo in ids, or a missing import.
"""

from __future__ import annotations

from typing import Any

from cloudtally.store import Store

KNOWN = "SELECT DISTINCT vm_id FROM vm_inventory"

# VM ids with samples (vm_sampled, ~one row per VM, kept by the sink) that the
# inventory does not know: the only ones whose samples need reading. `samples` is
# ordered by vm_id, so reading them touches those VMs' rows and no others, where a
# `NOT IN` over `samples` itself read every sample of the year each time.
CANDIDATES = f"SELECT vm_id FROM vm_sampled WHERE vm_id NOT IN ({KNOWN})"

# Per orphan VM: distinct sample times, first/last sample and when it first arrived
# (version is the ingest time in ms).
ORPHANS = f"""
SELECT vm_id, uniqExact(ts) AS samples, toInt64(min(ts)) AS first_ts,
       toInt64(max(ts)) AS last_ts, intDiv(min(version), 1000) AS first_ingested
FROM samples
WHERE vm_id IN ({CANDIDATES})
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
