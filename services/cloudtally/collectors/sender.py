"""One way out for every real collector: samples, dead letters, then heartbeats.

Order matters: a window's samples go to their VMs' partitions first, then a
heartbeat to *every* partition, then the producer is flushed. The worker
stores the beat after the samples before it, so the stored beats are the
collector's watermark (core.heartbeat).

Dead letters (series of VMs not in inventory) go through the samples'
outbox (collectors/delivery.py): held until the broker acknowledged them and
re-sent after an outage, so a broker that is down loses none of them. Each has
a stable key (source, window, hash of the series) so a re-sent window is
recognisable on the topic; the store keeps one row per series either way.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import orjson

from cloudtally.collectors import health
from cloudtally.collectors.producer import SampleProducer
from cloudtally.core.heartbeat import Heartbeat
from cloudtally.core.samples import DiskColumns, SampleColumns
from cloudtally.settings import Settings


class CollectorSender:
    def __init__(
        self,
        settings: Settings,
        source: str,
        *,
        wire_format: str = "arrow",
        interval_s: int | None = None,
    ) -> None:
        self.source = source
        self.samples = SampleProducer(
            settings.kafka_bootstrap,
            settings.topic_samples,
            source=source,
            wire_format=wire_format,
            interval_s=interval_s,  # declared per batch: rollups and availability read it
        )
        self.dl_topic = settings.topic_dead_letter
        self.partitions = self.samples.partitions
        self.samples_sent = 0
        self.dead_letters_sent = 0

    def send_window(
        self,
        samples: SampleColumns,
        disks: DiskColumns,
        data_from: int,
        data_until: int,
        *,
        unknown: list[dict[str, Any]] | None = None,
        errors: int = 0,
        allocation: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """Send the window, beat every partition, flush; raise if Kafka did not take it."""
        parts = self.samples.partitions_of(samples.vm_id) if len(samples) else None
        if len(samples) or len(disks):
            self.samples.send_chunk(samples, disks, sample_partitions=parts)
        for item in unknown or []:
            self._dead_letter(item, data_from)
        per_part = (
            np.bincount(parts, minlength=self.partitions)
            if parts is not None
            else np.zeros(self.partitions, dtype=np.int64)
        )
        vms_per_part = np.zeros(self.partitions, dtype=np.int64)
        if parts is not None:
            seen: dict[str, int] = {}
            for vm, p in zip(samples.vm_id, parts, strict=True):
                seen.setdefault(vm, int(p))
            for p in seen.values():
                vms_per_part[p] += 1
        alloc_by_part: dict[int, list[tuple[str, float | None, float | None]]] = {}
        if allocation:
            ids = np.array(sorted(allocation), dtype=object)
            for vm, p in zip(ids, self.samples.partitions_of(ids), strict=True):
                a = allocation[vm]
                alloc_by_part.setdefault(int(p), []).append((vm, a.get("vcpu"), a.get("mem_gb")))
        now = int(time.time())
        for p in range(self.partitions):
            beat = Heartbeat(
                source=self.source,
                partition=p,
                sent_at=now,
                data_from=data_from,
                data_until=data_until,
                samples=int(per_part[p]),
                vms=int(vms_per_part[p]),
                # Window-wide counts ride on partition 0's beat only, so sums are exact.
                unknown_series=len(unknown or []) if p == 0 else 0,
                errors=errors if p == 0 else 0,
                allocation=tuple(alloc_by_part.get(p, ())),
            )
            self.samples.send_raw(p, beat.to_json())
        self.samples.flush()  # samples, dead letters and beats: all acknowledged
        self.samples_sent += len(samples)
        health.window_done(self.source, data_until)

    def _dead_letter(self, item: dict[str, Any], window_start: int) -> None:
        """A rejected series, in the dead-letter schema (topic = the source, offset = window)."""
        payload = orjson.dumps(item).decode()
        doc = {
            "schema": "cloudtally.dead-letter/1",
            "topic": f"collector:{self.source}",
            "partition": 0,
            "offset": window_start,
            "row_index": -1,
            "section": "samples",
            "reason": item["reason"],
            "payload": payload,
            "payload_encoding": "utf-8",
            "received_at": int(time.time()),
        }
        sha = hashlib.sha256(payload.encode()).hexdigest()[:16]
        key = f"collector:{self.source}/{window_start}/{sha}".encode()
        self.samples.send_record(self.dl_topic, orjson.dumps(doc), key=key)
        self.dead_letters_sent += 1

    def close(self) -> None:
        self.samples.flush()
        self.samples.close()
