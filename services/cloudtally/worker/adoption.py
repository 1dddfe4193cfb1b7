"""Adoption of orphan samples: a VM's first inventory event queues its sampled hours.

Samples of a VM the inventory has not announced are stored but skipped by the
rollup (no owner; queries/orphans.py). When the VM is announced, the hours those
samples touched must be rolled up again. This used to be read from ``samples``
inside the inventory flush, which held the store (and the samples stream) for
most of the worker's time. Now the inventory write is the whole flush, and this
step, run by the leader at the start of each rollup tick, adopts every VM that
``vm_inventory`` has and ``vm_adoptions`` has not:

1. pending VMs = inventory − adoptions (the inventory itself is the durable record,
   so a worker that dies after the inventory write adopts on the next tick);
2. of those, the ones with samples (``vm_sampled``, one row per VM) get their
   sampled hours read from ``samples`` (ordered by vm_id: only their rows);
3. the hours go to ``rollup_queue``, and only then the VMs to ``vm_adoptions``.

A crash between 3's two writes queues the same hours again next tick: the rollup
recomputes an hour, it never adds to it, so every hour is billed exactly once.
Samples stored after step 2 are queued by their own flush, whose rollup runs after
the inventory write and so sees the owner.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from cloudtally.store import Store

log = logging.getLogger(__name__)

PENDING = (
    "SELECT DISTINCT vm_id FROM vm_inventory WHERE vm_id NOT IN (SELECT vm_id FROM vm_adoptions)"
)
# VM ids per read of `samples`: keeps each query's inlined id list small on 18.16.
CHUNK = 2_000


@dataclass
class Adoption:
    vms: int = 0  # newly announced VMs adopted now
    sampled_vms: int = 0  # of which had samples stored before (orphans)
    hours: int = 0  # (VM, hour) keys queued for the rollup


def adopt_announced(store: Store) -> Adoption:
    """Queue the sampled hours of every announced, not yet adopted VM; then record them."""
    pending = sorted(str(r[0]) for r in store.rows(PENDING))
    result = Adoption(vms=len(pending))
    if not pending:
        return result
    version = time.time_ns() // 1_000_000
    hours_per_vm: dict[str, int] = {}
    for i in range(0, len(pending), CHUNK):
        ids = tuple(pending[i : i + CHUNK])
        sampled = store.rows(
            "SELECT DISTINCT vm_id FROM vm_sampled WHERE vm_id IN %(ids)s", {"ids": ids}
        )
        if not sampled:
            continue
        cols = store.columns(
            "SELECT DISTINCT vm_id, intDiv(toInt64(ts), 3600) * 3600 AS hour FROM samples "
            "WHERE vm_id IN %(ids)s",
            {"ids": tuple(sorted(str(r[0]) for r in sampled))},
        )
        vm_ids = np.asarray(cols.get("vm_id", []), dtype=object)
        if not len(vm_ids):
            continue
        store.insert(
            "rollup_queue",
            {
                "vm_id": vm_ids,
                "hour": np.asarray(cols["hour"], dtype=np.int64),
                "version": np.full(len(vm_ids), version, dtype=np.uint64),
            },
        )
        names, counts = np.unique(vm_ids.astype(str), return_counts=True)
        hours_per_vm.update(zip(names.tolist(), counts.tolist(), strict=True))
    store.insert(
        "vm_adoptions",
        {
            "vm_id": pending,
            "hours": [hours_per_vm.get(v, 0) for v in pending],
            "adopted_at": [int(time.time())] * len(pending),
            "version": np.full(len(pending), version, dtype=np.uint64),
        },
    )
    result.sampled_vms = len(hours_per_vm)
    result.hours = sum(hours_per_vm.values())
    if result.hours:
        log.info(
            "adopted %d newly announced VMs: %d with orphan samples, %d VM-hours queued",
            result.vms,
            result.sampled_vms,
            result.hours,
        )
    return result
