"""The ingest sink: one consumed batch of Kafka messages in, one insert per table out.

Synchronous and broker-agnostic so it can be tested against the real store
without Kafka, and run in a thread from the Faust agent. The agent acks the
messages only after :meth:`IngestSink.write_samples` returns, so offsets are
committed after the flush (at-least-once); the store's ReplacingMergeTree
keys make a redelivered batch collapse onto the same rows.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cloudtally import metrics
from cloudtally.core.heartbeat import (
    Heartbeat,
    HeartbeatRejected,
    decode_heartbeat,
    is_heartbeat,
)
from cloudtally.core.inventory import InventoryRejected, decode_event
from cloudtally.core.samples import BatchRejected, decode_batch
from cloudtally.core.samples_arrow import ARROW_MAGIC, decode_arrow_batches
from cloudtally.store import Store
from cloudtally.worker.dead_letters import make_record, message_sha256
from cloudtally.worker.heartbeats import insert_heartbeats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class FlushResult:
    rows: dict[str, int] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    touched_hours: int = 0


def dead_letter(
    msg: RawMessage,
    reason: str,
    *,
    now: int,
    row_index: int = -1,
    section: str = "message",
    payload: bytes | None = None,
    sha: str | None = None,
) -> dict[str, Any]:
    """A dead-letter record (schemas/dead_letter.schema.json) that loses nothing."""
    return make_record(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        message=msg.value,
        sha=sha if sha is not None else message_sha256(msg.value),
        reason=reason,
        now=now,
        section=section,
        row_index=row_index,
        payload=payload,
    )


class IngestSink:
    """Writes decoded batches to ClickHouse; returns what must go to the dead-letter topic."""

    def __init__(
        self, store: Store, consumer: str = "cloudtally-worker", max_future_s: int = 300
    ) -> None:
        self.store = store
        self.consumer = consumer
        self.max_future_s = max_future_s
        self._sampled: set[str] = set()  # VM ids this process has stored in vm_sampled
        # One thread beside the flush's: the rollup keys while the samples insert runs.
        self._keys_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollup-keys")

    def write_samples(self, messages: Sequence[RawMessage]) -> FlushResult:
        started = time.perf_counter()
        now = int(time.time())
        version = time.time_ns() // 1_000_000
        result = FlushResult()
        samples: list[pa.Table] = []
        disks: list[pa.Table] = []
        sources: list[tuple[str, int]] = []  # (source, rows) per message, in order
        intervals: list[tuple[int, int]] = []  # (declared interval_s, rows) per message
        disk_sources: list[tuple[str, int]] = []
        per_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
        written_by_msg: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        beats: list[Heartbeat] = []  # collector heartbeats: stored after the samples they follow

        # Arrow messages are checked together (one pass over the flush's rows, split back
        # per message: the same rows and rejects as one by one, without the per-call cost).
        arrow = [i for i, m in enumerate(messages) if m.value and m.value[:4] == ARROW_MAGIC]
        joint = dict(
            zip(
                arrow,
                decode_arrow_batches(
                    [messages[i].value or b"" for i in arrow],
                    now=now,
                    max_future_s=self.max_future_s,
                ),
                strict=True,
            )
        )
        for i, msg in enumerate(messages):
            key = (msg.topic, msg.partition)
            per_partition[key].append(msg.offset)
            metrics.MESSAGES_CONSUMED.labels(msg.topic).inc()
            try:
                decoded = joint.get(i)
                if isinstance(decoded, BatchRejected):
                    raise decoded
                if decoded is None and is_heartbeat(msg.value):
                    assert msg.value is not None
                    beats.append(replace(decode_heartbeat(msg.value), partition=msg.partition))
                    continue
                if msg.value is None:
                    raise BatchRejected("empty message (no value)")
                batch = (
                    decoded
                    if decoded is not None
                    else decode_batch(msg.value, now=now, max_future_s=self.max_future_s)
                )
            except (BatchRejected, HeartbeatRejected) as exc:
                result.dead_letters.append(dead_letter(msg, str(exc), now=now))
                written_by_msg[key][1] += 1
                continue
            sha = message_sha256(msg.value) if batch.rejects else ""
            for rej in batch.rejects:
                result.dead_letters.append(
                    dead_letter(
                        msg,
                        rej.reason,
                        now=now,
                        row_index=rej.index,
                        section=rej.section,
                        payload=orjson.dumps(rej.row),
                        sha=sha,
                    )
                )
            written_by_msg[key][0] += len(batch.samples) + len(batch.disks)
            written_by_msg[key][1] += len(batch.rejects)
            s = batch.samples
            # Arrow tables either way: an Arrow message's columns go to the insert as they
            # were validated; a JSON message's are converted here (once per message).
            if len(s):
                samples.append(s.to_arrow())
                sources.append((batch.source, len(s)))
                intervals.append((batch.interval_s, len(s)))
            d = batch.disks
            if len(d):
                disks.append(d.to_arrow())
                disk_sources.append((batch.source, len(d)))

        parts = {"samples": samples, "disk_samples": disks}
        tables = {name: pa.concat_tables(chunks) for name, chunks in parts.items() if chunks}
        if tables:
            # The touched (VM, hour) keys are one Arrow hash aggregation (no GIL held):
            # computed on the other core while chDB inserts the samples, not after them.
            keys = self._keys_pool.submit(
                touched_keys,
                pa.chunked_array(
                    [c for t in tables.values() for c in t["vm_id"].chunks], pa.string()
                ),
                pa.chunked_array([c for t in tables.values() for c in t["ts"].chunks], pa.int64()),
            )
            per_table = {"samples": (sources, intervals), "disk_samples": (disk_sources, None)}
            for name, table in tables.items():
                cols = {col: table.column(col) for col in table.column_names}
                src, ivs = per_table[name]
                result.rows[name] = self._insert(name, cols, src, version, ivs)
            result.touched_hours = self._queue_rollups(keys.result(), version)
        if beats:
            result.rows["collector_heartbeats"] = insert_heartbeats(self.store, beats, now, version)
        self._record(result, per_partition, written_by_msg, now)
        metrics.FLUSH_SECONDS.labels("samples").observe(time.perf_counter() - started)
        return result

    def write_inventory(self, messages: Sequence[RawMessage]) -> FlushResult:
        now = int(time.time())
        version = time.time_ns() // 1_000_000
        result = FlushResult()
        per_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
        written_by_msg: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        rows: dict[str, list[Any]] = defaultdict(list)
        for msg in messages:
            key = (msg.topic, msg.partition)
            per_partition[key].append(msg.offset)
            metrics.MESSAGES_CONSUMED.labels(msg.topic).inc()
            if msg.value is None:  # a tombstone on the compacted topic: nothing to record
                continue
            try:
                ev = decode_event(msg.value)
            except InventoryRejected as exc:
                result.dead_letters.append(dead_letter(msg, str(exc), now=now, section="inventory"))
                written_by_msg[key][1] += 1
                continue
            written_by_msg[key][0] += 1
            rows["vm_id"].append(ev.vm_id)
            rows["event_ts"].append(ev.ts)
            rows["event"].append(ev.event)
            rows["name"].append(ev.name)
            rows["bureau"].append(ev.bureau)
            rows["system"].append(ev.system)
            rows["pool"].append(ev.pool)
            rows["provider"].append(ev.provider)
            rows["vcpu"].append(ev.vcpu)
            rows["mem_gb"].append(ev.mem_gb)
            rows["disk_ids"].append([d.disk_id for d in ev.disks])
            rows["disk_size_gb"].append([d.size_gb for d in ev.disks])
            rows["disk_tiers"].append([d.tier for d in ev.disks])
            rows["version"].append(version)
        if rows:
            # One insert and no read: a VM announced here for the first time is adopted
            # (its orphan samples' hours queued) by the leader's rollup step, from the
            # inventory itself (worker/adoption.py), not on this path.
            result.rows["vm_inventory"] = self._insert("vm_inventory", rows)
        self._record(result, per_partition, written_by_msg, now)
        return result

    def write_collector_dead_letters(self, messages: Sequence[RawMessage]) -> FlushResult:
        """Collectors' rejects from the dead-letter topic into ``dead_letters``.

        worker/collector_dead_letters.py: they are stored, not sent on again.
        """
        from cloudtally.worker.collector_dead_letters import collector_records

        now = int(time.time())
        result = FlushResult(dead_letters=collector_records([m.value for m in messages]))
        per_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
        for msg in messages:
            per_partition[(msg.topic, msg.partition)].append(msg.offset)
        counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for key in per_partition:
            counts[key][1] = len(result.dead_letters)  # one dead-letter partition
        self._record(result, per_partition, counts, now)
        result.rows["dead_letters"] = len(result.dead_letters)
        result.dead_letters = []
        return result

    # -- steps ---------------------------------------------------------------------------

    def _insert(
        self,
        table: str,
        cols: dict[str, Any],
        sources: list[tuple[str, int]] | None = None,
        version: int | None = None,
        intervals: list[tuple[int, int]] | None = None,
    ) -> int:
        constants: dict[str, Any] = {}
        if version is not None:
            constants["version"] = version
        if intervals:  # each batch's declared sample interval (0 = not declared)
            values = {v for v, _ in intervals}
            if len(values) == 1:
                constants["interval_s"] = values.pop()
            else:
                cols["interval_s"] = np.repeat(
                    np.array([v for v, _ in intervals], dtype=np.uint32),
                    [k for _, k in intervals],
                )
        if sources:
            names = {name for name, _ in sources}
            if len(names) == 1:  # the usual case: one collector per flush
                constants["source"] = names.pop()
            else:
                cols["source"] = np.repeat(
                    np.array([n for n, _ in sources], dtype=object), [k for _, k in sources]
                )
        t0 = time.perf_counter()
        n = self.store.insert(table, cols, constants)
        metrics.INSERT_SECONDS.labels(table).observe(time.perf_counter() - t0)
        metrics.INSERT_ROWS.labels(table).observe(n)
        metrics.SAMPLES_INGESTED.labels(table).inc(n)
        return n

    def _queue_rollups(self, keys: pa.Table, version: int) -> int:
        """Record which (VM, hour) keys changed, for the rollup step to recompute."""
        self._note_sampled(keys.column("vm_id"), version)
        cols: dict[str, Any] = {
            "vm_id": keys.column("vm_id"),
            "hour": pc.multiply(keys.column("hour"), 3600).to_numpy(),
            "version": np.full(keys.num_rows, version, dtype=np.uint64),
        }
        return self.store.insert("rollup_queue", cols)

    def _note_sampled(self, vm_id: pa.ChunkedArray, version: int) -> None:
        """Write to ``vm_sampled`` the VM ids this process has not written there yet.

        The orphans timer and the adoption step read that table (one row per VM)
        instead of scanning ``samples``. Written before the flush is acknowledged, so
        a crash before it means a redelivery that writes it again; remembered only
        once stored. After the first flushes of a fleet this writes nothing.
        """
        new = [v for v in pc.unique(vm_id).to_pylist() if v not in self._sampled]
        if not new:
            return
        self.store.insert(
            "vm_sampled", {"vm_id": new, "version": np.full(len(new), version, dtype=np.uint64)}
        )
        self._sampled.update(new)

    def _record(
        self,
        result: FlushResult,
        per_partition: dict[tuple[str, int], list[int]],
        written_by_msg: dict[tuple[str, int], list[int]],
        now: int,
    ) -> None:
        if result.dead_letters:
            dl = result.dead_letters
            self.store.insert(
                "dead_letters",
                {
                    "received_at": [r["received_at"] for r in dl],
                    "topic": [r["topic"] for r in dl],
                    "partition": [r["partition"] for r in dl],
                    "offset": [r["offset"] for r in dl],
                    "message_sha256": [r["message_sha256"] for r in dl],
                    "message_bytes": [r["message_bytes"] for r in dl],
                    "row_index": [r["row_index"] for r in dl],
                    "section": [r["section"] for r in dl],
                    "reason": [r["reason"] for r in dl],
                    "payload": [r["payload"] for r in dl],
                    "payload_encoding": [r["payload_encoding"] for r in dl],
                    "payload_bytes": [r["payload_bytes"] for r in dl],
                },
            )
            for r in dl:
                metrics.DEAD_LETTERS.labels(
                    r["topic"], r["section"], _reason_class(r["reason"])
                ).inc()
        if not per_partition:
            return
        keys = sorted(per_partition)
        self.store.insert(
            "ingest_log",
            {
                "flushed_at": [now] * len(keys),
                "consumer": [self.consumer] * len(keys),
                "topic": [k[0] for k in keys],
                "partition": [k[1] for k in keys],
                "first_offset": [min(per_partition[k]) for k in keys],
                "last_offset": [max(per_partition[k]) for k in keys],
                "messages": [len(per_partition[k]) for k in keys],
                "rows_written": [written_by_msg[k][0] for k in keys],
                "rows_rejected": [written_by_msg[k][1] for k in keys],
            },
        )
        for topic, partition in keys:
            metrics.CONSUMER_OFFSET.labels(topic, str(partition)).set(
                max(per_partition[(topic, partition)])
            )
            metrics.LAST_FLUSH.labels(topic).set(now)


def touched_keys(vm_id: pa.ChunkedArray, ts: pa.ChunkedArray) -> pa.Table:
    """The distinct (vm_id, hour) pairs of a flush, hour = ts // 3600: one hash
    aggregation in Arrow (no Python objects)."""
    return (
        pa.table({"vm_id": vm_id, "hour": pc.divide(ts, 3600)})
        .group_by(["vm_id", "hour"], use_threads=False)
        .aggregate([])
    )


def _reason_class(reason: str) -> str:
    """Bounded label values: the reason up to its first detail."""
    return re.split(r"[:,{\[(]| got ", reason, maxsplit=1)[0].strip()[:60]
