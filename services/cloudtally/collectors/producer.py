"""kafka-python producers for sample batches and inventory events.

Why batches to explicit partitions: one message carries thousands of samples
(architecture Principle 2), and every VM's samples go to partition
``partition_for(vm_id, partitions)`` so they stay in order and the worker can
rely on per-VM order within a partition.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa
from kafka import KafkaProducer

from cloudtally import metrics
from cloudtally.collectors.badinput import BadInputPlan, bad_message
from cloudtally.collectors.delivery import Outbox
from cloudtally.core.inventory import InventoryEvent
from cloudtally.core.samples import DiskColumns, SampleColumns, encode_batch, partition_for
from cloudtally.core.samples_arrow import encode_arrow_batch

WIRE_FORMATS = ("arrow", "json")

log = logging.getLogger(__name__)

# Throughput settings measured against Tansu (see collectors report / loadtest):
# one produce request carries several ~100 KB batch messages per partition.
PRODUCER_TUNING: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 1 << 20,
    "max_request_size": 16 << 20,
    "acks": 1,
    "enable_idempotence": False,
    # One request in flight per connection: a retried batch can never overtake a later
    # one, so each VM's samples stay in order on its partition without idempotence.
    "max_in_flight_requests_per_connection": 1,
    # Reconnect within a second once a restarted broker is back (default backs off to 30 s);
    # a send waits at most 10 s for metadata or buffer space, then the outbox retries it.
    "reconnect_backoff_max_ms": 1000,
    "max_block_ms": 10_000,
}


def topic_partitions(producer: KafkaProducer, topic: str, timeout_s: float = 10.0) -> int:
    """Partition count of ``topic`` from broker metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        parts = producer.partitions_for(topic)
        if parts:
            return len(parts)
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} has no partitions in broker metadata")
        time.sleep(0.1)


class SampleProducer:
    """Sends columnar chunks as batched messages, each to its VMs' partition."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int | None = None,
        rows_per_message: int = 2000,
        *,
        source: str = "simulate",
        bad_plan: BadInputPlan | None = None,
        wire_format: str = "arrow",
        interval_s: int | None = None,
        **config: Any,
    ) -> None:
        if rows_per_message < 1:
            raise ValueError("rows_per_message must be >= 1")
        if wire_format not in WIRE_FORMATS:
            raise ValueError(f"wire_format must be one of {WIRE_FORMATS}, got {wire_format!r}")
        if bad_plan is not None and bad_plan.wire_format != wire_format:
            raise ValueError("the bad-input plan must plant the producer's wire format")
        self.wire_format = wire_format
        self._encode = encode_arrow_batch if wire_format == "arrow" else encode_batch
        self.topic = topic
        self.source = source
        self.interval_s = interval_s  # declared on every batch: rollups' expected samples
        self.rows_per_message = rows_per_message
        self.bad_plan = bad_plan
        self._outbox = Outbox(
            lambda: KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=f"cloudtally-{source}",
                **{**PRODUCER_TUNING, **config},
            ),
            source=source,
        )
        self.partitions = partitions or topic_partitions(self._outbox.producer, topic)
        self._vm_partition: dict[str, int] = {}
        self._arrow_ids: pa.Array | None = None
        self._chunk_vm_index: np.ndarray | None = None
        self.messages_sent = 0  # every message, good or planted-bad, in send order
        self.good_messages = 0
        self.rows_sent = 0  # sample rows in good-schema messages, planted bad rows included
        self.disk_rows_sent = 0
        self.good_rows = 0
        self.good_disk_rows = 0
        self._samples_ctr = metrics.SAMPLES_PRODUCED.labels(source)
        self._batches_ctr = metrics.BATCHES_PRODUCED.labels(source)

    def use_vm_ids(self, vm_ids: np.ndarray) -> None:
        """Every VM id the chunks will index (Arrow format: converted once, taken per batch)."""
        if self.wire_format == "arrow":
            self._arrow_ids = pa.array(vm_ids, type=pa.string())

    # --------------------------------------------------------------- sending
    def partitions_of(self, vm_id: np.ndarray) -> np.ndarray:
        """Partition per row; cached per VM id (callers with VM indexes can pass their own)."""
        cache = self._vm_partition
        n = self.partitions
        out = np.empty(len(vm_id), dtype=np.int32)
        for i, v in enumerate(vm_id):
            p = cache.get(v)
            if p is None:
                p = cache[v] = partition_for(v, n)
            out[i] = p
        return out

    def send_chunk(
        self,
        samples: SampleColumns,
        disks: DiskColumns | None = None,
        *,
        sample_partitions: np.ndarray | None = None,
        disk_partitions: np.ndarray | None = None,
        sample_vm_index: np.ndarray | None = None,
    ) -> int:
        """Send one chunk; returns the number of messages. Row order per VM is kept.

        ``sample_vm_index`` (row -> index into the ids given to :meth:`use_vm_ids`) lets
        the Arrow encoder take the id column from a prebuilt Arrow array instead of
        converting a Python string per row.
        """
        self._chunk_vm_index = sample_vm_index if self._arrow_ids is not None else None
        if sample_partitions is None:
            sample_partitions = self.partitions_of(samples.vm_id)
        if disks is not None and len(disks) and disk_partitions is None:
            disk_partitions = self.partitions_of(disks.vm_id)
        s_groups = _group(sample_partitions, self.partitions)
        d_groups = (
            _group(disk_partitions, self.partitions)
            if disks is not None and disk_partitions is not None
            else {}
        )
        sent = 0
        for part in sorted(set(s_groups) | set(d_groups)):
            s_idx = s_groups.get(part, _EMPTY)
            d_idx = d_groups.get(part, _EMPTY)
            k = max(
                1, -(-len(s_idx) // self.rows_per_message), -(-len(d_idx) // self.rows_per_message)
            )
            for s_part, d_part in zip(
                np.array_split(s_idx, k), np.array_split(d_idx, k), strict=True
            ):
                self._send_batch(part, samples, s_part, disks, d_part)
                sent += 1
        return sent

    def _send_batch(
        self,
        partition: int,
        samples: SampleColumns,
        s_idx: np.ndarray,
        disks: DiskColumns | None,
        d_idx: np.ndarray,
    ) -> None:
        s_cols: dict[str, Any] = {
            "vm_id": samples.vm_id[s_idx],
            "ts": samples.ts[s_idx],
            "cpu_pct": samples.cpu_pct[s_idx],
            "mem_pct": samples.mem_pct[s_idx],
        }
        d_cols: dict[str, Any] | None = None
        if disks is not None and len(d_idx):
            d_cols = {
                "vm_id": disks.vm_id[d_idx],
                "disk_id": disks.disk_id[d_idx],
                "ts": disks.ts[d_idx],
                "used_gb": disks.used_gb[d_idx],
            }
        n_good, n_good_disk = len(s_idx), len(d_idx)
        seq = self.messages_sent
        good_cols = s_cols
        if self.bad_plan is not None and self.bad_plan.active:
            empty_disks: dict[str, Any] = {"vm_id": [], "disk_id": [], "ts": [], "used_gb": []}
            s_cols, d_new = self.bad_plan.corrupt(seq, partition, s_cols, d_cols or empty_disks)
            d_cols = d_new if len(d_new["ts"]) else None
        ids = self._arrow_ids
        if s_cols is good_cols and self._chunk_vm_index is not None and ids is not None:
            # No row planted in this message: ids straight from the fleet's Arrow array.
            s_cols["vm_id"] = ids.take(pa.array(self._chunk_vm_index[s_idx]))
        payload = self._encode(
            self.source,
            s_cols["vm_id"],
            s_cols["ts"],
            s_cols["cpu_pct"],
            s_cols["mem_pct"],
            disks=d_cols,
            interval_s=self.interval_s,
        )
        self.send_raw(partition, payload)
        self.good_messages += 1
        self.rows_sent += len(s_cols["ts"])
        self.disk_rows_sent += 0 if d_cols is None else len(d_cols["ts"])
        self.good_rows += n_good
        self.good_disk_rows += n_good_disk
        self._samples_ctr.inc(n_good)
        self._batches_ctr.inc()
        if self.bad_plan is not None:
            kind = self.bad_plan.after_good_message()
            if kind is not None:
                self.send_bad_message(partition, kind)

    def send_bad_message(self, partition: int, kind: str) -> None:
        assert self.bad_plan is not None
        self.bad_plan.record_message(self.messages_sent, partition, kind)
        self.send_raw(partition, bad_message(kind, self.source, self.wire_format))

    def send_remaining_bad_messages(self) -> None:
        """Plant the bad-message kinds a short run has not planted yet."""
        if self.bad_plan is not None:
            for kind in self.bad_plan.remaining_kinds():
                self.send_bad_message(self.messages_sent % self.partitions, kind)

    def send_raw(self, partition: int, payload: bytes) -> None:
        self._outbox.send(self.topic, payload, partition=int(partition))
        self.messages_sent += 1

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    def send_record(self, topic: str, value: bytes, *, key: bytes | None = None) -> None:
        """A record for another topic (a collector's dead letter) through the same outbox:
        held until acknowledged and re-sent after a broker outage, like the samples."""
        self._outbox.send(topic, value, key=key)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker acknowledged every message, re-sending failed ones."""
        self._outbox.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._outbox.close(timeout)

    def __enter__(self) -> SampleProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.close()


_EMPTY = np.empty(0, dtype=np.int64)


def _group(parts: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """Row indexes per partition, each in original (time) order."""
    if len(parts) == 0:
        return {}
    order = np.argsort(parts, kind="stable")
    counts = np.bincount(parts, minlength=n)
    bounds = np.cumsum(counts)
    out: dict[int, np.ndarray] = {}
    start = 0
    for p in range(n):
        end = int(bounds[p])
        if end > start:
            out[p] = order[start:end]
        start = end
    return out


class InventoryProducer:
    """Sends InventoryEvent JSON keyed by vm_id (the topic is compacted by that key)."""

    def __init__(
        self, bootstrap: str, topic: str, *, source: str = "simulate", **config: Any
    ) -> None:
        self.topic = topic
        self.source = source
        cfg = {**PRODUCER_TUNING, "linger_ms": 5, **config}
        self._outbox = Outbox(
            lambda: KafkaProducer(
                bootstrap_servers=bootstrap, client_id=f"cloudtally-{source}-inventory", **cfg
            ),
            source=f"{source}-inventory",
        )
        self.partitions = topic_partitions(self._outbox.producer, topic)
        self.sent = 0
        self._ctr = metrics.INVENTORY_PRODUCED.labels(source)

    def send(self, event: InventoryEvent) -> None:
        self.send_raw(event.vm_id.encode(), event.to_json())
        self._ctr.inc()

    def send_raw(self, key: bytes, payload: bytes) -> None:
        self._outbox.send(self.topic, payload, key=key)
        self.sent += 1

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker acknowledged every event, re-sending failed ones."""
        self._outbox.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._outbox.close(timeout)

    def __enter__(self) -> InventoryProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.close()
