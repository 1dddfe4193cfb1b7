"""The Arrow wire format (cloudtally.samples/2): round trip, row rejects with the JSON
path's reasons, and every whole-message reject."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from cloudtally.core.samples import BatchRejected, decode_batch, encode_batch
from cloudtally.core.samples_arrow import (
    EOS,
    SCHEMA_V2,
    ArrowColumns,
    encode_arrow_batch,
    length_mismatch_message,
)

NOW = 1_800_000_000
T0 = 1_700_000_000
DISKS = {"vm_id": ["vm-0"], "disk_id": ["d0"], "ts": [T0], "used_gb": [1.5]}


def cols(n: int = 5) -> dict[str, Any]:
    return {
        "vm_id": np.array([f"vm-{i}" for i in range(n)], dtype=object),
        "ts": np.arange(n, dtype=np.int64) * 60 + T0,
        "cpu_pct": np.linspace(0, 100, n),
        "mem_pct": np.linspace(100, 0, n),
    }


def encode(c: dict[str, Any], disks: dict[str, Any] | None = DISKS) -> bytes:
    return encode_arrow_batch("test", c["vm_id"], c["ts"], c["cpu_pct"], c["mem_pct"], disks)


def stream(table: pa.Table, meta: dict[str, str] | None) -> bytes:
    sink = pa.BufferOutputStream()
    schema = table.schema.with_metadata(meta) if meta is not None else table.schema
    with pa.ipc.new_stream(sink, schema) as w:
        w.write_table(table.replace_schema_metadata(meta) if meta is not None else table)
    return bytes(sink.getvalue())


def samples_table(**override: Any) -> pa.Table:
    c = cols(3)
    data = {
        "vm_id": pa.array(list(c["vm_id"]), pa.string()),
        "ts": pa.array(c["ts"], pa.int64()),
        "cpu_pct": pa.array(c["cpu_pct"], pa.float32()),
        "mem_pct": pa.array(c["mem_pct"], pa.float32()),
    }
    for k, v in override.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return pa.table(data)


META = {"schema": SCHEMA_V2, "source": "test", "section": "samples"}


def test_round_trip_keeps_every_value_and_hands_over_arrow() -> None:
    raw = encode(cols())
    assert raw[:4] == b"\xff\xff\xff\xff" and raw.endswith(EOS)
    b = decode_batch(raw, now=NOW)
    assert isinstance(b.samples, ArrowColumns) and isinstance(b.disks, ArrowColumns)
    assert b.source == "test" and b.rejects == []
    assert b.samples.to_arrow().schema.field("vm_id").type == pa.string()
    assert list(b.samples.vm_id) == [f"vm-{i}" for i in range(5)]
    assert b.samples.ts.tolist() == [T0 + 60 * i for i in range(5)]
    assert b.samples.cpu_pct.tolist() == [0, 25, 50, 75, 100]
    assert b.samples.cpu_pct.dtype == np.float32
    assert b.disks.used_gb.tolist() == [1.5] and list(b.disks.disk_id) == ["d0"]


def test_same_values_as_the_json_path() -> None:
    rng = np.random.default_rng(1)
    c = cols(200)
    c["cpu_pct"] = rng.uniform(0, 100, 200).astype(np.float32)
    c["mem_pct"] = rng.uniform(0, 100, 200)
    j = decode_batch(
        encode_batch("test", c["vm_id"], c["ts"], c["cpu_pct"], c["mem_pct"], disks=DISKS),
        now=NOW,
    )
    a = decode_batch(encode(c), now=NOW)
    for name in ("vm_id", "ts", "cpu_pct", "mem_pct"):
        assert np.array_equal(getattr(a.samples, name), getattr(j.samples, name)), name
    assert a.samples.to_arrow().equals(j.samples.to_arrow())
    assert a.disks.to_arrow().equals(j.disks.to_arrow())


def test_without_disks_there_is_one_stream() -> None:
    raw = encode(cols(), disks=None)
    assert raw.count(EOS) == 1
    b = decode_batch(raw, now=NOW)
    assert len(b.samples) == 5 and len(b.disks) == 0


def test_dictionary_ids_and_float64_are_accepted() -> None:
    t = samples_table(
        vm_id=pa.array(["a", "b", "a"]).dictionary_encode(),
        cpu_pct=pa.array([1.0, 2.0, 3.0], pa.float64()),
    )
    b = decode_batch(stream(t, META), now=NOW)
    assert list(b.samples.vm_id) == ["a", "b", "a"]
    assert b.samples.to_arrow().schema.field("cpu_pct").type == pa.float32()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cpu_pct", None, "cpu_pct must be a number"),
        ("cpu_pct", float("nan"), "cpu_pct must be a number"),
        ("cpu_pct", float("inf"), "cpu_pct must be a number"),
        ("mem_pct", 100.5, "mem_pct above 100"),
        ("mem_pct", -1.0, "mem_pct is negative"),
        ("ts", None, "ts must be an integer epoch second"),
        ("ts", 100, "ts before 2000-01-01"),
        ("ts", NOW + 3600, "ts in the future"),
        ("vm_id", "", "vm_id must be a non-empty string of at most 128 characters"),
        ("vm_id", None, "vm_id must be a non-empty string of at most 128 characters"),
        ("vm_id", "v" * 129, "vm_id must be a non-empty string of at most 128 characters"),
    ],
)
def test_bad_row_is_rejected_with_the_json_reason_and_the_rest_kept(
    field: str, value: Any, reason: str
) -> None:
    c = {k: list(v) for k, v in cols().items()}
    c[field][2] = value
    arrow = decode_batch(encode(c), now=NOW)
    assert [(r.section, r.index, r.reason) for r in arrow.rejects] == [("samples", 2, reason)]
    assert len(arrow.samples) == 4 and "vm-2" not in list(arrow.samples.vm_id)
    assert arrow.rejects[0].row["vm_id"] == c["vm_id"][2]
    if not (isinstance(value, float) and not np.isfinite(value)):  # JSON can say it too
        json = decode_batch(
            encode_batch("test", c["vm_id"], c["ts"], c["cpu_pct"], c["mem_pct"], disks=DISKS),
            now=NOW,
        )
        assert [r.reason for r in json.rejects] == [reason]


def test_multibyte_ids_count_characters_not_bytes() -> None:
    c = {k: list(v) for k, v in cols().items()}
    c["vm_id"][0] = "云" * 128  # 384 bytes, 128 characters: fine
    c["vm_id"][1] = "云" * 129
    b = decode_batch(encode(c), now=NOW)
    assert [(r.index, r.reason.split()[0]) for r in b.rejects] == [(1, "vm_id")]


def test_first_reason_wins_and_disk_rows_have_their_section() -> None:
    c = {k: list(v) for k, v in cols().items()}
    c["vm_id"][1], c["cpu_pct"][1] = "", -3.0
    disks = {"vm_id": ["vm-0", "vm-1"], "disk_id": ["d0", "d1"], "ts": [T0, T0]}
    disks["used_gb"] = [-1.0, 2.0]
    b = decode_batch(encode(c, disks), now=NOW)
    assert [(r.section, r.index, r.reason) for r in b.rejects] == [
        ("samples", 1, "vm_id must be a non-empty string of at most 128 characters"),
        ("disks", 0, "used_gb is negative"),
    ]
    assert list(b.disks.disk_id) == ["d1"]


def _good() -> bytes:
    return encode(cols(3), disks=None)


def _with_disks() -> bytes:
    return encode(cols(3))


DISK_TABLE = pa.table(
    {
        "vm_id": pa.array(["vm-0"]),
        "disk_id": pa.array(["d0"]),
        "ts": pa.array([T0], pa.int64()),
        "used_gb": pa.array([1.0]),
    }
)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"junk" * 8, "not an Arrow IPC stream"),
        (_good()[:40], "truncated Arrow stream"),
        (_good()[: len(_good()) // 2], "truncated Arrow stream"),
        (_good()[:-8], "truncated Arrow stream in samples: no end-of-stream marker"),
        (_with_disks()[:-8], "truncated Arrow stream in disks"),
        (stream(samples_table(), None), "schema must be 'cloudtally.samples/2'"),
        (
            stream(samples_table(), {**META, "schema": "cloudtally.samples/1"}),
            "schema must be 'cloudtally.samples/2'",
        ),
        (stream(samples_table(), {**META, "source": ""}), "source must be a non-empty string"),
        (stream(samples_table(cpu_pct=None), META), "samples missing fields ['cpu_pct']"),
        (
            stream(samples_table(extra=pa.array([1, 2, 3])), META),
            "unknown fields in samples ['extra']",
        ),
        (
            stream(samples_table(cpu_pct=pa.array(["1", "2", "3"])), META),
            "samples.cpu_pct must be float32 or float64, got string",
        ),
        (
            stream(samples_table(ts=pa.array([T0] * 3, pa.int32())), META),
            "samples.ts must be int64",
        ),
        (
            stream(samples_table(vm_id=pa.array([1, 2, 3])), META),
            "samples.vm_id must be utf8",
        ),
        (length_mismatch_message(_good(), rows=3, ncols=4), "samples columns differ in length"),
        (
            _good() + stream(DISK_TABLE, {**META, "section": "samples"}),
            "expected the disks stream",
        ),
        (
            _good() + stream(DISK_TABLE.drop_columns(["used_gb"]), {**META, "section": "disks"}),
            "disks missing fields ['used_gb']",
        ),
        (_with_disks() + b"\x00", "trailing bytes after the disks stream"),
    ],
)
def test_unusable_arrow_message_is_rejected_whole(raw: bytes, reason: str) -> None:
    with pytest.raises(BatchRejected) as exc:
        decode_batch(raw, now=NOW)
    assert str(exc.value).startswith(reason), str(exc.value)


def test_json_is_still_told_apart() -> None:
    with pytest.raises(BatchRejected, match=r"^not valid JSON"):
        decode_batch(b"\xff\xfe not arrow either", now=NOW)
    b = decode_batch(
        encode_batch("test", ["vm-0"], [T0], [1.0], [2.0]),
        now=NOW,
    )
    assert list(b.samples.vm_id) == ["vm-0"]


def test_a_stream_without_record_batches_is_an_empty_batch() -> None:
    b = decode_batch(_empty_stream(), now=NOW)
    assert len(b.samples) == 0 and len(b.disks) == 0 and b.rejects == []


def _empty_stream() -> bytes:
    sink = pa.BufferOutputStream()
    schema = samples_table().schema.with_metadata(META)
    with pa.ipc.new_stream(sink, schema):
        pass
    return bytes(sink.getvalue())


def _utf8_typed(values: list[bytes]) -> pa.Array:
    """Bytes typed utf8 without a check, as a foreign Arrow writer can send them."""
    return pa.Array.from_buffers(pa.string(), len(values), pa.array(values, pa.binary()).buffers())


def test_ids_that_are_not_utf8_are_rejected_row_by_row() -> None:
    t = samples_table(vm_id=_utf8_typed([b"vm-0", b"vm-\xff\xfe", b"vm-2"]))
    got = decode_batch(stream(t, {"schema": SCHEMA_V2, "source": "test"}), now=NOW)
    assert got.samples.to_arrow()["vm_id"].to_pylist() == ["vm-0", "vm-2"]
    (reject,) = got.rejects
    assert reject.reason == "vm_id must be valid UTF-8"
    assert reject.row["vm_id"] == "vm-\ufffd\ufffd"  # the dead letter can show it


def test_disk_ids_that_are_not_utf8_are_rejected_row_by_row() -> None:
    meta = {"schema": SCHEMA_V2, "source": "test"}
    disks = pa.table(
        {
            "vm_id": pa.array(["vm-0", "vm-0"], pa.string()),
            "disk_id": _utf8_typed([b"d\xc3", b"d1"]),  # a cut two-byte sequence
            "ts": pa.array([T0, T0], pa.int64()),
            "used_gb": pa.array([1.0, 2.0], pa.float64()),
        }
    )
    raw = stream(samples_table(), meta) + stream(disks, {**meta, "section": "disks"})
    got = decode_batch(raw, now=NOW)
    assert len(got.samples) == 3  # the samples are untouched
    assert got.disks.to_arrow()["disk_id"].to_pylist() == ["d1"]
    assert [(r.section, r.reason) for r in got.rejects] == [
        ("disks", "disk_id must be valid UTF-8")
    ]
