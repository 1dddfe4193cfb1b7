"""Deliberately malformed input, planted deterministically for tests and demos.

Why: the pipeline promises "nothing is lost, nothing is silent". To prove it
end to end, the simulator mixes known bad rows into good batches, sends known
bad whole messages and one bad inventory event, and reports exactly what it
planted, so a test can assert the dead-letter topic holds each of them with
the reason ``cloudtally.core.samples.decode_batch`` gives, and the store holds
every good sample exactly once.

Bad rows are *extra* rows (a copy of a real row with one field broken), so the
good samples of the batch are all still there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from cloudtally.core.samples import SCHEMA
from cloudtally.core.samples_arrow import encode_arrow_batch, length_mismatch_message

# kind -> (section, field, bad value, reason prefix given by decode_batch)
ROW_KINDS: dict[str, tuple[str, str, Any, str]] = {
    "cpu_null": ("samples", "cpu_pct", None, "cpu_pct must be a number"),
    "mem_above_100": ("samples", "mem_pct", 150.0, "mem_pct above 100"),
    "cpu_negative": ("samples", "cpu_pct", -5.0, "cpu_pct is negative"),
    "ts_string": ("samples", "ts", "2026-01-01T00:00:00", "ts must be an integer epoch second"),
    "vm_id_empty": ("samples", "vm_id", "", "vm_id must be a non-empty string"),
    "disk_used_negative": ("disks", "used_gb", -1.5, "used_gb is negative"),
}
# kind -> reason prefix of the BatchRejected raised by decode_batch
MESSAGE_KINDS: dict[str, str] = {
    "not_json": "not valid JSON",
    "wrong_schema": "schema must be",
    "length_mismatch": "samples arrays differ in length",
    "json_array": "expected a JSON object",
}
# The same for cloudtally.samples/2 (Arrow IPC): what a broken Arrow producer can send.
ARROW_MESSAGE_KINDS: dict[str, str] = {
    "not_arrow": "not an Arrow IPC stream",
    "wrong_schema": "schema must be",
    "length_mismatch": "samples columns differ in length",
    "truncated": "truncated Arrow stream",
}
# Row faults Arrow cannot carry, planted as their nearest Arrow form with the same reason:
# a ts that is not an integer can only be a null in an int64 column.
ARROW_ROW_VALUES: dict[str, Any] = {"ts_string": None}
INVENTORY_KIND = ("missing_bureau", "bureau")  # decode_event reason starts with "bureau"


@dataclass(frozen=True)
class PlantedRow:
    """One bad row: message sequence number (in send order), partition, section, index."""

    message_seq: int
    partition: int
    section: str
    row_index: int
    kind: str
    reason: str


@dataclass(frozen=True)
class PlantedMessage:
    message_seq: int
    partition: int
    kind: str
    reason: str


@dataclass
class BadInputPlan:
    """Deterministic plan: ``ratio`` extra bad rows per good row (floor(good rows seen x
    ratio) in total, carried over between messages), one bad whole message after every
    ``1 / ratio`` good messages (kinds in turn; each kind at least once via
    :meth:`remaining_kinds`), and one bad inventory event."""

    ratio: float
    seed: int = 0
    wire_format: str = "json"  # "json" (cloudtally.samples/1) or "arrow" (/2)
    rows: list[PlantedRow] = field(default_factory=list)
    messages: list[PlantedMessage] = field(default_factory=list)
    _rows_seen: int = 0
    _row_kind: int = 0
    _msg_kind: int = 0
    _good_since_bad: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError("bad_ratio must be in [0, 1)")
        if self.wire_format not in ("json", "arrow"):
            raise ValueError(f"wire_format must be json or arrow, got {self.wire_format!r}")
        self._rng = np.random.default_rng([self.seed, 99])

    @property
    def active(self) -> bool:
        return self.ratio > 0

    @property
    def message_kinds(self) -> dict[str, str]:
        return ARROW_MESSAGE_KINDS if self.wire_format == "arrow" else MESSAGE_KINDS

    @property
    def message_every(self) -> int:
        return max(1, round(1 / self.ratio)) if self.ratio > 0 else 0

    # ---------------------------------------------------------------- rows
    def corrupt(
        self, message_seq: int, partition: int, samples: dict[str, Any], disks: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return columns (as lists if rows were planted) with this message's bad rows."""
        self._rows_seen += len(samples["ts"]) + len(disks["ts"])
        # Exact total so far: floor(rows seen * ratio), carried over between messages.
        todo = int(self._rows_seen * self.ratio + 1e-9) - len(self.rows)
        if todo <= 0:
            return samples, disks
        s = {k: _as_list(v) for k, v in samples.items()}
        d = {k: _as_list(v) for k, v in disks.items()}
        for _ in range(todo):
            kind = self._next_row_kind(has_samples=len(s["ts"]) > 0, has_disks=len(d["ts"]) > 0)
            if kind is None:
                break  # an empty message: the debt carries over to the next one
            section, fname, value, reason = ROW_KINDS[kind]
            if self.wire_format == "arrow":
                value = ARROW_ROW_VALUES.get(kind, value)
            cols = s if section == "samples" else d
            n = len(cols["ts"])
            src = int(self._rng.integers(0, n))
            at = int(self._rng.integers(0, n + 1))
            for name, col in cols.items():
                col.insert(at, value if name == fname else col[src])
            # Earlier planted rows of this message at or after `at` shift by one.
            shifted = []
            for r in self.rows:
                if r.message_seq == message_seq and r.section == section and r.row_index >= at:
                    r = PlantedRow(
                        r.message_seq, r.partition, r.section, r.row_index + 1, r.kind, r.reason
                    )
                shifted.append(r)
            self.rows[:] = shifted
            self.rows.append(PlantedRow(message_seq, partition, section, at, kind, reason))
        return s, d

    def _next_row_kind(self, *, has_samples: bool, has_disks: bool) -> str | None:
        kinds = list(ROW_KINDS)
        for _ in range(len(kinds)):
            kind = kinds[self._row_kind % len(kinds)]
            self._row_kind += 1
            section = ROW_KINDS[kind][0]
            if (section == "samples" and has_samples) or (section == "disks" and has_disks):
                return kind
        return None

    # ------------------------------------------------------------ messages
    def after_good_message(self) -> str | None:
        """Kind of bad message to send now (after a good one), or None."""
        if not self.active:
            return None
        self._good_since_bad += 1
        if self._good_since_bad < self.message_every and self._msg_kind > 0:
            return None
        self._good_since_bad = 0
        kinds = list(self.message_kinds)
        kind = kinds[self._msg_kind % len(kinds)]
        self._msg_kind += 1
        return kind

    def remaining_kinds(self) -> list[str]:
        """Message kinds not planted yet (so a short run still plants each kind once)."""
        if not self.active:
            return []
        done = {m.kind for m in self.messages}
        return [k for k in self.message_kinds if k not in done]

    def record_message(self, message_seq: int, partition: int, kind: str) -> None:
        reason = self.message_kinds[kind]
        self.messages.append(PlantedMessage(message_seq, partition, kind, reason))


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            return [float(x) for x in np.round(v.astype(np.float64), 3)]
        return list(v.tolist())
    return list(v)


def bad_message(kind: str, source: str = "simulate", wire_format: str = "json") -> bytes:
    """A whole message that decode_batch must reject with MESSAGE_KINDS[kind] (JSON) or
    ARROW_MESSAGE_KINDS[kind] (Arrow)."""
    if wire_format == "arrow":
        return bad_arrow_message(kind, source)
    good: dict[str, Any] = {
        "schema": SCHEMA,
        "source": source,
        "vm_id": ["vm-bad-1", "vm-bad-1"],
        "ts": [1_700_000_000, 1_700_000_300],
        "cpu_pct": [1.0, 2.0],
        "mem_pct": [3.0, 4.0],
    }
    if kind == "not_json":
        return b'{"schema": "cloudtally.samples/1", "vm_id": ["vm-bad-1"'  # truncated
    if kind == "wrong_schema":
        return orjson.dumps({**good, "schema": "cloudtally.samples/0"})
    if kind == "length_mismatch":
        return orjson.dumps({**good, "cpu_pct": [1.0]})
    if kind == "json_array":
        return orjson.dumps([good])
    raise ValueError(f"unknown bad message kind {kind!r}")


def bad_arrow_message(kind: str, source: str = "simulate") -> bytes:
    """A whole Arrow message that decode_batch must reject with ARROW_MESSAGE_KINDS[kind]."""
    rows = (["vm-bad-1", "vm-bad-1", "vm-bad-1"], [1_700_000_000, 1_700_000_300, 1_700_000_600])
    good = encode_arrow_batch(source, rows[0], rows[1], [1.0, 2.0, 3.0], [3.0, 4.0, 5.0])
    if kind == "not_arrow":
        # The continuation marker, then bytes that are no IPC message at all.
        return b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"this is not arrow" * 4
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "wrong_schema":
        sink = pa.BufferOutputStream()
        table = pa.table({"vm_id": rows[0], "ts": pa.array(rows[1], pa.int64())})
        meta = {"schema": "cloudtally.samples/1", "source": source}
        with pa.ipc.new_stream(sink, table.schema.with_metadata(meta)) as w:
            w.write_table(table.replace_schema_metadata(meta))
        return bytes(sink.getvalue())
    if kind == "length_mismatch":
        return length_mismatch_message(good, rows=3, ncols=4)
    raise ValueError(f"unknown bad Arrow message kind {kind!r}")


def bad_inventory_event(ts: int) -> tuple[bytes, bytes]:
    """(key, value) of an inventory event without a bureau; its key is no real VM."""
    doc = {
        "schema": "cloudtally.inventory/1",
        "event": "created",
        "vm_id": "vm-bad-inventory",
        "ts": ts,
        "name": "planted bad event",
        "system": "none",
        "pool": "none",
        "provider": "none",
        "vcpu": 1,
        "mem_gb": 1,
        "disks": [],
    }
    return b"vm-bad-inventory", orjson.dumps(doc)
