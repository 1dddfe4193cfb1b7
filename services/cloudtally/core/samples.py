"""Columnar sample batches: encode for the wire, decode and validate with numpy.

A batch is one Kafka message carrying many samples (schemas/samples.schema.json).
Decoding never drops silently: a message that cannot be used at all raises
:class:`BatchRejected`; a bad row inside a good message becomes a
:class:`RowReject` with its index and reason, and the good rows are kept.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from cloudtally.core.ids import MAX_ID_LEN as MAX_ID_LEN  # re-exported: the wire limit
from cloudtally.core.ids import any_forbidden, id_problem

if TYPE_CHECKING:
    from cloudtally.core.samples_arrow import ArrowColumns

SCHEMA = "cloudtally.samples/1"
MIN_TS = 946_684_800  # 2000-01-01T00:00:00Z
# JSON has no NaN or Infinity, but real encoders (Python's json, JavaScript's) write them.
NON_FINITE = re.compile(rb"\bNaN\b|\bInfinity\b")

SAMPLE_FIELDS = ("vm_id", "ts", "cpu_pct", "mem_pct")
DISK_FIELDS = ("vm_id", "disk_id", "ts", "used_gb")


class BatchRejected(ValueError):
    """The whole message is unusable; the reason says why."""


@dataclass(frozen=True)
class RowReject:
    section: str  # "samples" or "disks"
    index: int
    reason: str
    row: dict[str, Any]


@dataclass
class SampleColumns:
    vm_id: np.ndarray  # object (str)
    ts: np.ndarray  # int64 epoch seconds
    cpu_pct: np.ndarray  # float32
    mem_pct: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.ts)

    def to_arrow(self) -> pa.Table:
        """The insert's form (the Arrow decode path hands this over without a copy)."""
        return pa.table(
            [
                pa.array(self.vm_id, type=pa.string()),
                pa.array(self.ts, type=pa.int64()),
                pa.array(self.cpu_pct, type=pa.float32()),
                pa.array(self.mem_pct, type=pa.float32()),
            ],
            names=list(SAMPLE_FIELDS),
        )


@dataclass
class DiskColumns:
    vm_id: np.ndarray
    disk_id: np.ndarray
    ts: np.ndarray
    used_gb: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ts)

    def to_arrow(self) -> pa.Table:
        return pa.table(
            [
                pa.array(self.vm_id, type=pa.string()),
                pa.array(self.disk_id, type=pa.string()),
                pa.array(self.ts, type=pa.int64()),
                pa.array(self.used_gb, type=pa.float64()),
            ],
            names=list(DISK_FIELDS),
        )


@dataclass
class DecodedBatch:
    source: str
    samples: SampleColumns | ArrowColumns  # ArrowColumns from cloudtally.samples/2
    disks: DiskColumns | ArrowColumns
    rejects: list[RowReject] = field(default_factory=list)
    interval_s: int = 0  # the collector's declared sample interval; 0 = not declared


MAX_INTERVAL_S = 86_400


def declared_interval(value: object) -> int:
    """The optional ``interval_s`` of a batch (seconds between a VM's samples) or 0.

    Rollups expect 3600 / interval samples per VM-hour from this source, so a
    collector sampling every 300 s is fully covered at 12 samples an hour.
    """
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= MAX_INTERVAL_S):
        raise BatchRejected(f"interval_s must be whole seconds in 1..{MAX_INTERVAL_S}")
    return value


def partition_for(vm_id: str, partitions: int) -> int:
    """Stable partition of a VM, so one VM's samples stay in order on one partition."""
    return zlib.crc32(vm_id.encode()) % partitions


def encode_batch(
    source: str,
    vm_id: Sequence[str],
    ts: np.ndarray | Sequence[int],
    cpu_pct: np.ndarray | Sequence[float],
    mem_pct: np.ndarray | Sequence[float],
    disks: dict[str, Any] | None = None,
    batch_id: str | None = None,
    interval_s: int | None = None,
) -> bytes:
    """Serialise one batch; numpy arrays are written natively by orjson."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "source": source,
        "vm_id": list(vm_id),
        "ts": _plain(ts),
        "cpu_pct": _plain(cpu_pct),
        "mem_pct": _plain(mem_pct),
    }
    if batch_id:
        doc["batch_id"] = batch_id
    if interval_s:
        doc["interval_s"] = int(interval_s)
    if disks is not None:
        doc["disks"] = {
            "vm_id": list(disks["vm_id"]),
            "disk_id": list(disks["disk_id"]),
            "ts": _plain(disks["ts"]),
            "used_gb": _plain(disks["used_gb"]),
        }
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            # Round to 0.01 % resolution: plenty for utilization, 2x smaller on the wire.
            return np.round(a.astype(np.float64), 3)
        return a
    return list(a)


def decode_batch(raw: bytes, *, now: int, max_future_s: int = 300) -> DecodedBatch:
    """Parse and validate one message (JSON or Arrow IPC, told apart by the first bytes).

    Raises BatchRejected for an unusable message.
    """
    if raw[:4] == b"\xff\xff\xff\xff":  # Arrow IPC continuation marker; JSON starts with "{"
        from cloudtally.core.samples_arrow import decode_arrow_batch

        return decode_arrow_batch(raw, now=now, max_future_s=max_future_s)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        doc = _with_non_finite(raw, exc)
    if not isinstance(doc, dict):
        raise BatchRejected(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        raise BatchRejected(f"schema must be {SCHEMA!r}, got {doc.get('schema')!r}")
    source = doc.get("source")
    if not isinstance(source, str) or not source:
        raise BatchRejected("source must be a non-empty string")
    problem = id_problem(source, "source")
    if problem:
        raise BatchRejected(problem)
    unknown = set(doc) - {"schema", "source", "batch_id", "interval_s", "disks", *SAMPLE_FIELDS}
    if unknown:
        raise BatchRejected(f"unknown fields {sorted(unknown)}")

    interval_s = declared_interval(doc.get("interval_s"))
    max_ts = now + max_future_s
    # A JSON true/false would coerce to 1.0/0.0 in a numeric array; when the raw bytes hold
    # neither word, no value can be a bool and the per-value check is skipped (hot path).
    bools = b"true" in raw or b"false" in raw
    cols, rejects = _columns(doc, SAMPLE_FIELDS, "samples", ("cpu_pct", "mem_pct"), max_ts, bools)
    samples = SampleColumns(
        vm_id=cols["vm_id"],
        ts=cols["ts"],
        cpu_pct=cols["cpu_pct"].astype(np.float32),
        mem_pct=cols["mem_pct"].astype(np.float32),
    )
    disk_doc = doc.get("disks")
    if disk_doc is None:
        disks = DiskColumns(*(_empty(f) for f in DISK_FIELDS))
    else:
        if not isinstance(disk_doc, dict):
            raise BatchRejected("disks must be an object of arrays")
        extra = set(disk_doc) - set(DISK_FIELDS)
        if extra:
            raise BatchRejected(f"unknown fields in disks {sorted(extra)}")
        dcols, drejects = _columns(disk_doc, DISK_FIELDS, "disks", ("used_gb",), max_ts, bools)
        rejects.extend(drejects)
        disks = DiskColumns(dcols["vm_id"], dcols["disk_id"], dcols["ts"], dcols["used_gb"])
    return DecodedBatch(source, samples, disks, rejects, interval_s)


def _with_non_finite(raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """A literal NaN / Infinity makes its rows rejects, not the whole message.

    Only for messages that contain one of these words (the hot path never gets here):
    they parse to float NaN / inf, which the column checks reject per row.
    """
    if NON_FINITE.search(raw):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    raise BatchRejected(f"not valid JSON: {exc}") from None


def _empty(name: str) -> np.ndarray:
    if name in ("vm_id", "disk_id"):
        return np.empty(0, dtype=object)
    return np.empty(0, dtype=np.int64 if name == "ts" else np.float64)


def _columns(
    doc: dict[str, Any],
    names: Sequence[str],
    section: str,
    pct_or_qty: Sequence[str],
    max_ts: int,
    may_hold_bools: bool = True,
) -> tuple[dict[str, np.ndarray], list[RowReject]]:
    missing = [n for n in names if n not in doc]
    if missing:
        raise BatchRejected(f"{section} missing fields {missing}")
    lists = {n: doc[n] for n in names}
    for n, v in lists.items():
        if not isinstance(v, list):
            raise BatchRejected(f"{section}.{n} must be an array")
    lengths = {n: len(v) for n, v in lists.items()}
    if len(set(lengths.values())) > 1:
        raise BatchRejected(f"{section} arrays differ in length {lengths}")
    n_rows = lengths[names[0]]
    bad = np.zeros(n_rows, dtype=bool)
    reasons: dict[int, str] = {}

    def flag(mask: np.ndarray, why: str) -> None:
        new = mask & ~bad
        for i in np.flatnonzero(new):
            reasons[int(i)] = why
        bad[:] |= mask

    cols: dict[str, np.ndarray] = {}
    for n in names:
        values = lists[n]
        if n in ("vm_id", "disk_id"):
            arr = np.empty(n_rows, dtype=object)
            arr[:] = values
            if not _all_ids(values) or any_forbidden(values):
                problems = [id_problem(x, n) for x in values]
                for why in dict.fromkeys(p for p in problems if p):
                    flag(np.fromiter((p == why for p in problems), bool, n_rows), why)
            cols[n] = arr
        elif n == "ts":
            arr_f = _numeric(values, may_hold_bools)
            ok = np.isfinite(arr_f) & (arr_f == np.floor(arr_f))
            flag(~ok, "ts must be an integer epoch second")
            flag(ok & (arr_f < MIN_TS), "ts before 2000-01-01")
            flag(ok & (arr_f > max_ts), "ts in the future")
            cols[n] = np.where(ok, arr_f, 0).astype(np.int64)
        else:
            arr_f = _numeric(values, may_hold_bools)
            finite = np.isfinite(arr_f)
            flag(~finite, f"{n} must be a number")
            flag(finite & (arr_f < 0), f"{n} is negative")
            if n.endswith("_pct"):
                flag(finite & (arr_f > 100), f"{n} above 100")
            cols[n] = np.where(finite, arr_f, 0.0)
    rejects = [
        RowReject(section, i, why, {n: lists[n][i] for n in names})
        for i, why in sorted(reasons.items())
    ]
    if rejects:
        keep = ~bad
        cols = {n: c[keep] for n, c in cols.items()}
    return cols, rejects


def _all_ids(values: list[Any]) -> bool:
    """C-speed check that every value is a str of 1..MAX_ID_LEN characters."""
    if not values:
        return True
    if set(map(type, values)) != {str}:
        return False
    lengths = list(map(len, values))
    return min(lengths) > 0 and max(lengths) <= MAX_ID_LEN


def _numeric(values: list[Any], may_hold_bools: bool = True) -> np.ndarray:
    """Fast path for clean numeric lists; NaN marks anything that is not a number."""
    try:
        arr = np.asarray(values)
        if (
            arr.ndim == 1
            and arr.dtype.kind in "iuf"
            and not (may_hold_bools and any(type(x) is bool for x in values))
        ):
            return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError):
        pass
    return np.fromiter(
        (
            float(x) if isinstance(x, int | float) and not isinstance(x, bool) else np.nan
            for x in values
        ),
        dtype=np.float64,
        count=len(values),
    )
