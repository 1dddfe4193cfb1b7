"""Heartbeats for the simulated fleet, as a real exporter sends them (core.heartbeat).

Why: availability tells a silent VM (downtime) from a silent collector (a metering gap)
by the collector's heartbeat (principle 11). A simulator without beats made every
simulated minute a gap, so ``make up`` showed no availability and no SLA credit. One
beat per partition per sent chunk: the chunk's first and last sample time, the samples
and VMs on that partition. The simulator sends them after the chunk's samples; the first
run writes the same beats straight to the store with its history.
"""

from __future__ import annotations

import time

import numpy as np

from cloudtally.collectors.fleet import Chunk
from cloudtally.core.heartbeat import Heartbeat


def chunk_beats(
    source: str, partitions: int, chunk: Chunk, vm_part: np.ndarray, sent_at: int | None = None
) -> list[Heartbeat]:
    """One beat per partition for a chunk's samples (none for a chunk without samples).

    ``vm_part`` is the partition of each fleet VM (by its index in ``Fleet.vms``)."""
    s = chunk.samples
    if not len(s):
        return []
    parts = vm_part[chunk.vm_index]
    per_part = np.bincount(parts, minlength=partitions)
    vm_parts = vm_part[np.unique(chunk.vm_index)]
    vms = np.bincount(vm_parts, minlength=partitions)
    first, last = int(s.ts.min()), int(s.ts.max())
    now = int(time.time()) if sent_at is None else sent_at
    return [
        Heartbeat(source=source, partition=p, sent_at=now, data_from=first, data_until=last,
                  samples=int(per_part[p]), vms=int(vms[p]))
        for p in range(partitions)
    ]  # fmt: skip
