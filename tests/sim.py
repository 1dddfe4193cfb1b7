"""Simulated-fleet helpers shared by tests that feed the real sink."""

from __future__ import annotations

from typing import Any

from cloudtally.core.samples import encode_batch


def json_batch(chunk: Any, source: str = "simulate") -> bytes:
    """One simulator chunk (samples and disks) as a ``cloudtally.samples/1`` JSON batch."""
    s, d = chunk.samples, chunk.disks
    disks = {"vm_id": list(d.vm_id), "disk_id": list(d.disk_id), "ts": d.ts, "used_gb": d.used_gb}
    return encode_batch(source, list(s.vm_id), s.ts, s.cpu_pct, s.mem_pct, disks=disks)
