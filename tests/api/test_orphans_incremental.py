"""The orphans read model without a scan of `samples`: the same answers as the old scan.

`/api/v1/fleet/orphans`, `/api/v1/fleet` and the cloudtally_orphan_* gauges now read
`vm_sampled` (one row per VM, kept by the sink) and only the candidate VMs'
samples. Checked against the old query (a `NOT IN` over every sample) at every
step of a fleet whose inventory comes late, in parts, or never.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from cloudtally import metrics
from cloudtally.core.samples import encode_batch
from cloudtally.core.samples_arrow import encode_arrow_batch
from cloudtally.queries.orphans import list_orphans, orphan_summary
from cloudtally.store.base import split_statements
from cloudtally.worker.adoption import adopt_announced
from cloudtally.worker.app import refresh_orphan_gauges
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.api.test_orphans import announce

FEB = int(dt.datetime(2026, 2, 27, 22, tzinfo=dt.UTC).timestamp())  # spans two partitions

# The query the orphans read model used before vm_sampled: the reference.
FULL_SCAN = """
SELECT vm_id, uniqExact(ts) AS samples, toInt64(min(ts)) AS first_ts,
       toInt64(max(ts)) AS last_ts, intDiv(min(version), 1000) AS first_ingested
FROM samples
WHERE vm_id NOT IN (SELECT DISTINCT vm_id FROM vm_inventory)
GROUP BY vm_id
ORDER BY first_ingested, vm_id
"""


def batch(vms: list[str], n: int, *, step: int = 1800, arrow: bool = False) -> RawMessage:
    ids = [v for v in vms for _ in range(n)]
    ts = [FEB + step * i for _ in vms for i in range(n)]
    encode = encode_arrow_batch if arrow else encode_batch
    return RawMessage("samples", 0, 0, encode("agent", ids, ts, [5.0] * len(ids), [7.0] * len(ids)))


def same_as_full_scan(store: Any) -> int:
    expected = [dict(r) for r in store.dicts(FULL_SCAN)]
    total, items = list_orphans(store, limit=1000)
    assert total == len(expected)
    assert [dict(r) for r in items] == expected
    summary = orphan_summary(store)
    assert summary["orphan_vms"] == len(expected)
    assert summary["orphan_samples"] == sum(r["samples"] for r in expected)
    oldest = min((r["first_ingested"] for r in expected), default=None)
    assert summary["oldest_orphan_ingested"] == oldest
    refresh_orphan_gauges(store)
    assert metrics.ORPHAN_VMS._value.get() == len(expected)
    page_total, page = list_orphans(store, limit=1, offset=1)
    assert page_total == total and [dict(r) for r in page] == expected[1:2]
    return len(expected)


def test_orphans_match_the_full_scan_as_inventory_arrives_late(store) -> None:
    sink = IngestSink(store, max_future_s=10**9)
    sink.write_inventory([announce("vm-known", FEB - 86_400)])
    sink.write_samples([batch(["vm-known", "vm-o1", "vm-o2"], 8)])
    assert same_as_full_scan(store) == 2
    # Redelivered (a crash before the ack), by a restarted worker: same keys again.
    IngestSink(store, max_future_s=10**9).write_samples([batch(["vm-o1"], 8, arrow=True)])
    assert same_as_full_scan(store) == 2
    # More samples later, one orphan more, and a VM with disk samples only.
    disk = {"vm_id": ["vm-disk"], "disk_id": ["d1"], "ts": [FEB], "used_gb": [3.5]}
    disks_only = RawMessage("samples", 0, 1, encode_batch("agent", [], [], [], [], disks=disk))
    sink.write_samples([batch(["vm-o1", "vm-o3"], 20, step=3600), disks_only])
    assert store.scalar("SELECT count() FROM disk_samples WHERE vm_id = 'vm-disk'") == 1
    assert same_as_full_scan(store) == 3  # vm-disk has no samples: listed by neither
    # Inventory arrives for two of them (one a deletion: still known, not an orphan).
    sink.write_inventory(
        [announce("vm-o2", FEB - 86_400), announce("vm-o3", FEB - 86_400, "deleted")]
    )
    assert same_as_full_scan(store) == 1
    adopt_announced(store)
    assert same_as_full_scan(store) == 1
    sink.write_inventory([announce("vm-o1", FEB - 86_400)])
    assert same_as_full_scan(store) == 0


def test_a_store_from_before_vm_sampled_lists_its_orphans(store) -> None:
    """Samples stored before migration 0210 (not through this sink): its backfill."""
    store.insert(
        "samples",
        {
            "vm_id": ["vm-old-1", "vm-old-1", "vm-old-2"],
            "ts": [FEB, FEB + 60, FEB + 120],
            "cpu_pct": [1.0, 2.0, 3.0],
            "mem_pct": [1.0, 2.0, 3.0],
            "source": ["x"] * 3,
            "version": [5_000, 6_000, 7_000],
        },
    )
    assert list_orphans(store)[0] == 0  # not yet in vm_sampled
    sql = (resources.files("cloudtally.store") / "migrations" / "0210_adoption.sql").read_text()
    (backfill,) = [s for s in split_statements(sql) if "INTO vm_sampled" in s]
    store.execute(backfill)
    assert same_as_full_scan(store) == 2
