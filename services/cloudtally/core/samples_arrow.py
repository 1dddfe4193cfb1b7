"""``cloudtally.samples/2``: sample batches as Arrow IPC streams (schemas/samples.arrow.md).

Why: the JSON wire format costs the worker a Python object per value (parse, list ->
numpy, per-id checks) and again when the ids go back to Arrow for the insert. An Arrow
message is validated with numpy/pyarrow.compute on its buffers and handed to the sink
as Arrow columns, so no row ever becomes a Python object unless it is rejected.

The row-reject reasons are the JSON path's, word for word, wherever the fault can be
expressed in Arrow (a null or NaN number, out of range, negative, empty id, bad ts).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudtally.core.ids import FORBIDDEN_RE2, id_problem
from cloudtally.core.samples import (
    DISK_FIELDS,
    MAX_ID_LEN,
    MIN_TS,
    SAMPLE_FIELDS,
    BatchRejected,
    DecodedBatch,
    RowReject,
    declared_interval,
)

SCHEMA_V2 = "cloudtally.samples/2"
ARROW_MAGIC = b"\xff\xff\xff\xff"  # IPC continuation marker: every stream message starts so
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"

ID = pa.string()
SAMPLES_SCHEMA = pa.schema(
    [
        pa.field("vm_id", ID, nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("cpu_pct", pa.float32(), nullable=False),
        pa.field("mem_pct", pa.float32(), nullable=False),
    ]
)
DISKS_SCHEMA = pa.schema(
    [
        pa.field("vm_id", ID, nullable=False),
        pa.field("disk_id", ID, nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("used_gb", pa.float64(), nullable=False),
    ]
)
_FLOATS = {"cpu_pct": pa.float32(), "mem_pct": pa.float32(), "used_gb": pa.float64()}


@dataclass
class ArrowColumns:
    """Validated rows of one section as an Arrow table (no metadata, canonical types).

    The numpy views mirror SampleColumns/DiskColumns for callers that want them; the
    id column becomes Python objects only if someone asks for it.
    """

    table: pa.Table
    _ids: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def to_arrow(self) -> pa.Table:
        return self.table

    def _np(self, name: str) -> np.ndarray:
        col = self.table.column(name)
        if pa.types.is_string(col.type):
            if name not in self._ids:
                arr = np.empty(len(col), dtype=object)
                arr[:] = col.to_pylist()
                self._ids[name] = arr
            return self._ids[name]
        return np.asarray(col.to_numpy())

    @property
    def vm_id(self) -> np.ndarray:
        return self._np("vm_id")

    @property
    def disk_id(self) -> np.ndarray:
        return self._np("disk_id")

    @property
    def ts(self) -> np.ndarray:
        return self._np("ts")

    @property
    def cpu_pct(self) -> np.ndarray:
        return self._np("cpu_pct")

    @property
    def mem_pct(self) -> np.ndarray:
        return self._np("mem_pct")

    @property
    def used_gb(self) -> np.ndarray:
        return self._np("used_gb")


# ------------------------------------------------------------------ encode


def _rounded(values: Any, dtype: pa.DataType) -> pa.Array:
    """Same 0.001 resolution as the JSON encoder, so both formats land identical rows."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        arr = np.round(values.astype(np.float64), 3)
        return pa.array(arr.astype(np.float32) if dtype == pa.float32() else arr, type=dtype)
    return pa.array(list(values), type=dtype, from_pandas=True)


def _ids(values: Any) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values if isinstance(values, np.ndarray) else list(values), type=ID)


def _stream(table: pa.Table, meta: dict[str, str]) -> bytes:
    sink = pa.BufferOutputStream()
    schema = table.schema.with_metadata(meta)
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(meta))
    return bytes(sink.getvalue())


def encode_arrow_batch(
    source: str,
    vm_id: Sequence[str] | np.ndarray | pa.Array,
    ts: np.ndarray | Sequence[int | None],
    cpu_pct: np.ndarray | Sequence[float | None],
    mem_pct: np.ndarray | Sequence[float | None],
    disks: dict[str, Any] | None = None,
    batch_id: str | None = None,
    interval_s: int | None = None,
) -> bytes:
    """One message: the samples stream, then (if any disks) the disks stream."""
    meta = {"schema": SCHEMA_V2, "source": source}
    if batch_id:
        meta["batch_id"] = batch_id
    if interval_s:
        meta["interval_s"] = str(int(interval_s))
    samples = pa.table(
        [
            _ids(vm_id),
            pa.array(ts if isinstance(ts, np.ndarray) else list(ts), type=pa.int64()),
            _rounded(cpu_pct, pa.float32()),
            _rounded(mem_pct, pa.float32()),
        ],
        names=list(SAMPLE_FIELDS),
    )
    out = _stream(samples, {**meta, "section": "samples"})
    if disks is not None and len(disks["ts"]):
        d = disks
        table = pa.table(
            [
                _ids(d["vm_id"]),
                _ids(d["disk_id"]),
                pa.array(
                    d["ts"] if isinstance(d["ts"], np.ndarray) else list(d["ts"]), type=pa.int64()
                ),
                _rounded(d["used_gb"], pa.float64()),
            ],
            names=list(DISK_FIELDS),
        )
        out += _stream(table, {**meta, "section": "disks"})
    return out


# ------------------------------------------------------------------ decode


def decode_arrow_batch(raw: bytes, *, now: int, max_future_s: int = 300) -> DecodedBatch:
    """Parse and validate one Arrow message. Raises BatchRejected for an unusable message."""
    (result,) = decode_arrow_batches([raw], now=now, max_future_s=max_future_s)
    if isinstance(result, BatchRejected):
        raise result
    return result


def decode_arrow_batches(
    raws: Sequence[bytes], *, now: int, max_future_s: int = 300
) -> list[DecodedBatch | BatchRejected]:
    """Each message as :func:`decode_arrow_batch` gives it (the rejection as a value).

    Why: the row checks cost ~1.5 ms of fixed overhead per call, and a flush holds
    hundreds of 2,000-row messages. Each message is parsed and its columns put in
    canonical types on its own (a message-level fault rejects that message only);
    then the rows of all of them are checked in one pass and split back, so every
    message gets exactly the rows, rejects and reasons it would get alone.
    """
    results: list[DecodedBatch | BatchRejected | None] = []
    parsed: list[tuple[int, _Parsed]] = []
    for raw in raws:
        try:
            parsed.append((len(results), _parse(raw)))
            results.append(None)  # filled in below
        except BatchRejected as exc:
            results.append(exc)
    max_ts = now + max_future_s
    samples = _check_together([p.samples for _, p in parsed], SAMPLE_FIELDS, "samples", max_ts)
    with_disks = [p.disks for _, p in parsed if p.disks is not None]
    disks = iter(_check_together(with_disks, DISK_FIELDS, "disks", max_ts))
    for (slot, p), (s_cols, s_rejects) in zip(parsed, samples, strict=True):
        d_rejects: list[RowReject] = []
        if p.disks is None:
            d_cols = ArrowColumns(DISKS_SCHEMA.empty_table())
        else:
            d_cols, d_rejects = next(disks)
        results[slot] = DecodedBatch(p.source, s_cols, d_cols, s_rejects + d_rejects, p.interval_s)
    return [r for r in results if r is not None]  # every slot is filled


@dataclass
class _Parsed:
    """One message read and its columns in canonical types, rows not yet checked."""

    source: str
    interval_s: int
    samples: dict[str, pa.Array]
    disks: dict[str, pa.Array] | None


def _parse(raw: bytes) -> _Parsed:
    buf = pa.py_buffer(raw)
    reader = pa.BufferReader(buf)
    samples_t, meta = _read_section(reader, buf, "samples")
    source = meta.get("source", "")
    if not source:
        raise BatchRejected("source must be a non-empty string (Arrow schema metadata)")
    problem = id_problem(source, "source")
    if problem:
        raise BatchRejected(problem)
    interval_s = declared_interval(meta.get("interval_s"))
    disks_t: pa.Table | None = None
    if reader.tell() < len(buf):
        disks_t, dmeta = _read_section(reader, buf, "disks")
        if dmeta.get("source", source) != source:
            raise BatchRejected("disks source differs from samples source")
        if reader.tell() < len(buf):
            raise BatchRejected(
                f"trailing bytes after the disks stream ({len(buf) - reader.tell()} bytes)"
            )
    samples = _columns(samples_t, SAMPLE_FIELDS, "samples")
    disks = None if disks_t is None else _columns(disks_t, DISK_FIELDS, "disks")
    return _Parsed(source, interval_s, samples, disks)


def _read_section(
    reader: pa.BufferReader, buf: pa.Buffer, section: str
) -> tuple[pa.Table, dict[str, str]]:
    start = reader.tell()
    try:
        stream = pa.ipc.open_stream(reader)
        table = stream.read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        msg = str(exc)
        if "did not match record batch length" in msg:
            raise BatchRejected(f"{section} columns differ in length: {msg}") from None
        if "Expected to" in msg or ("only" in msg and "available" in msg):
            raise BatchRejected(f"truncated Arrow stream in {section}: {msg}") from None
        raise BatchRejected(f"not an Arrow IPC stream ({section}): {msg}") from None
    end = reader.tell()
    if end - start < 8 or buf[end - 8 : end].to_pybytes() != EOS:
        raise BatchRejected(f"truncated Arrow stream in {section}: no end-of-stream marker")
    raw_meta = table.schema.metadata or {}
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw_meta.items()}
    if meta.get("schema") != SCHEMA_V2:
        raise BatchRejected(
            f"schema must be {SCHEMA_V2!r} (Arrow schema metadata), got {meta.get('schema')!r}"
        )
    got = meta.get("section", "samples")
    if got != section:
        raise BatchRejected(f"expected the {section} stream, got section {got!r}")
    return table, meta


def _column(table: pa.Table, name: str, section: str) -> pa.Array:
    col = table.column(name)
    arr: pa.Array = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    t = arr.type
    if name in ("vm_id", "disk_id"):
        if pa.types.is_dictionary(t) and pa.types.is_integer(t.index_type):
            if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
                raise BatchRejected(f"{section}.{name} must be utf8 or dictionary<int, utf8>")
            arr = arr.dictionary_decode()
        if pa.types.is_large_string(arr.type):
            arr = arr.cast(ID)
        if not pa.types.is_string(arr.type):
            raise BatchRejected(f"{section}.{name} must be utf8 or dictionary<int, utf8>, got {t}")
    elif name == "ts":
        if t != pa.int64():
            raise BatchRejected(f"{section}.ts must be int64 epoch seconds, got {t}")
    else:
        if not pa.types.is_floating(t) or t == pa.float16():
            raise BatchRejected(f"{section}.{name} must be float32 or float64, got {t}")
        if t != _FLOATS[name]:
            arr = arr.cast(_FLOATS[name])
    return arr


def _invalid_utf8(arr: pa.Array, where: str) -> np.ndarray | None:
    """The mask of values that are not UTF-8 (None: every value is).

    Arrow does not check the strings of an IPC message, so a foreign writer's bytes reach
    us typed utf8; stored, they would break every read of the id. The full validation is
    one fast pass; only a failing array is decoded value by value.
    """
    try:
        arr.validate(full=True)
        return None
    except pa.ArrowInvalid as exc:
        problem = str(exc)
    mask = np.zeros(len(arr), dtype=bool)
    for i, v in enumerate(arr.cast(pa.binary()).to_pylist()):
        if v is not None:
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                mask[i] = True
    if not mask.any():  # not the text but the array's own structure is broken
        raise BatchRejected(f"{where} is not a valid utf8 column: {problem}")
    return mask


def _replacing_invalid(arr: pa.Array) -> pa.Array:
    """The same ids with undecodable bytes as U+FFFD, so the dead letter can show them."""
    values = arr.cast(pa.binary()).to_pylist()
    return pa.array(
        [None if v is None else v.decode("utf-8", "replace") for v in values], pa.string()
    )


def _may_hold_forbidden(arr: pa.Array) -> bool:
    """False only if no id in ``arr`` (utf8) can hold a character ``FORBIDDEN`` rejects.

    Those are U+0000-U+001F and U+007F-U+009F: in UTF-8 the bytes 0x00-0x1F and 0x7F,
    or 0xC2 followed by 0x80-0x9F. One numpy pass over the ids' bytes (~10 ms for a
    million ids) instead of a regex over every id (~400 ms); True means only that the
    exact per-id regex must run.
    """
    if len(arr) == 0:
        return False
    _validity, offsets_buf, data_buf = arr.buffers()
    if data_buf is None:
        return False
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    if bool(((data < 0x20) | (data == 0x7F)).any()):
        return True
    after_c2 = data[1:][data[:-1] == 0xC2]
    return bool(((after_c2 >= 0x80) & (after_c2 <= 0x9F)).any())


def _columns(table: pa.Table, names: Sequence[str], section: str) -> dict[str, pa.Array]:
    """The section's columns in canonical types; a schema fault rejects the message."""
    have = table.column_names
    missing = [n for n in names if n not in have]
    if missing:
        raise BatchRejected(f"{section} missing fields {missing}")
    unknown = sorted(set(have) - set(names))
    if unknown:
        raise BatchRejected(f"unknown fields in {section} {unknown}")
    return {n: _column(table, n, section) for n in names}


def _check_together(
    many: list[dict[str, pa.Array]], names: Sequence[str], section: str, max_ts: int
) -> list[tuple[ArrowColumns, list[RowReject]]]:
    """Row checks of several messages' columns in one pass, split back per message."""
    if len(many) <= 1:
        return [_check_rows(cols, names, section, max_ts) for cols in many]
    joined = {n: pa.concat_arrays([cols[n] for cols in many]) for n in names}
    table, bad, rejects = _flag_rows(joined, names, section, max_ts)
    out: list[tuple[ArrowColumns, list[RowReject]]] = []
    start = 0
    pending = iter(rejects)
    nxt = next(pending, None)
    for cols in many:
        n = len(cols[names[0]])
        part = table.slice(start, n)
        mine: list[RowReject] = []
        while nxt is not None and nxt.index < start + n:
            mine.append(RowReject(section, nxt.index - start, nxt.reason, nxt.row))
            nxt = next(pending, None)
        if mine and bad is not None:
            part = part.filter(pa.array(~bad[start : start + n]))
        out.append((ArrowColumns(part), mine))
        start += n
    return out


def _check_rows(
    cols: dict[str, pa.Array], names: Sequence[str], section: str, max_ts: int
) -> tuple[ArrowColumns, list[RowReject]]:
    table, bad, rejects = _flag_rows(cols, names, section, max_ts)
    if bad is not None:
        table = table.filter(pa.array(~bad))
    return ArrowColumns(table), rejects


def _flag_rows(
    cols: dict[str, pa.Array], names: Sequence[str], section: str, max_ts: int
) -> tuple[pa.Table, np.ndarray | None, list[RowReject]]:
    """All rows as a table, the mask of bad ones (None: none) and their rejects in order."""
    n_rows = len(cols[names[0]])
    bad: np.ndarray | None = None
    reasons: dict[int, str] = {}

    def flag(mask: np.ndarray, why: str) -> None:
        nonlocal bad
        if not mask.any():
            return
        if bad is None:
            bad = np.zeros(n_rows, dtype=bool)
        new = mask & ~bad
        for i in np.flatnonzero(new):
            reasons[int(i)] = why
        bad |= mask

    for n in names:
        arr = cols[n]
        if n in ("vm_id", "disk_id"):
            invalid = _invalid_utf8(arr, f"{section}.{n}")
            if invalid is not None:  # rare: a foreign writer's bytes; shown decoded with U+FFFD
                flag(invalid, f"{n} must be valid UTF-8")
                arr = cols[n] = _replacing_invalid(arr)
            lengths = pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
            if n_rows and (lengths.min() == 0 or lengths.max() > MAX_ID_LEN):
                chars = pc.utf8_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
                flag(
                    (chars == 0) | (chars > MAX_ID_LEN),
                    f"{n} must be a non-empty string of at most {MAX_ID_LEN} characters",
                )
            if not _may_hold_forbidden(arr):
                continue  # the usual case: no byte that could encode a control character
            control = pc.match_substring_regex(arr, FORBIDDEN_RE2).fill_null(False)
            if pc.any(control).as_py():  # rare: reasons per row as the JSON path gives them
                mask = control.to_numpy(zero_copy_only=False)
                for i in np.flatnonzero(mask):
                    one = np.zeros(n_rows, dtype=bool)
                    one[i] = True
                    flag(one, id_problem(arr[int(i)].as_py(), n) or "invalid id")
        elif n == "ts":
            if arr.null_count:
                nulls = arr.is_null().to_numpy(zero_copy_only=False)
                flag(nulls, "ts must be an integer epoch second")
                values = arr.fill_null(MIN_TS).to_numpy()
            else:
                values = arr.to_numpy()
            flag(values < MIN_TS, "ts before 2000-01-01")
            flag(values > max_ts, "ts in the future")
        else:
            values = arr.to_numpy(zero_copy_only=False)  # nulls become NaN
            finite = np.isfinite(values)
            if not finite.all():
                flag(~finite, f"{n} must be a number")
                values = np.where(finite, values, 0)
            flag(values < 0, f"{n} is negative")
            if n.endswith("_pct"):
                flag(values > 100, f"{n} above 100")
    out = pa.table([cols[n] for n in names], names=list(names))
    rejects: list[RowReject] = []
    if bad is not None:
        idx = sorted(reasons)
        rows = out.take(pa.array(idx, type=pa.int64())).to_pylist()
        rejects = [
            RowReject(section, i, reasons[i], _json_safe(row))
            for i, row in zip(idx, rows, strict=True)
        ]
    return out, bad, rejects


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf are not JSON: the dead letter shows them as text."""
    return {
        k: (repr(v) if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()
    }


def length_mismatch_message(raw: bytes, rows: int, ncols: int) -> bytes:
    """Rewrite one field node's length in a valid stream (for tests and planted input).

    pyarrow cannot build a record batch whose columns differ in length, but a foreign
    writer can send one; the field nodes of a batch are (length, null_count) int64 pairs.
    """
    node = struct.pack("<qq", rows, 0)
    at = raw.find(node * ncols)
    if at < 0:
        raise ValueError("field nodes not found")
    patched = bytearray(raw)
    patched[at + 16 : at + 24] = struct.pack("<q", rows - 1)
    return bytes(patched)
