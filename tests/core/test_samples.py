"""The sample batch codec: what is kept, what is rejected, and why."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from cloudtally.core.samples import (
    BatchRejected,
    decode_batch,
    encode_batch,
    partition_for,
)

NOW = 1_800_000_000


def batch(n: int = 5, **overrides: object) -> dict:
    doc = orjson.loads(
        encode_batch(
            "test",
            [f"vm-{i}" for i in range(n)],
            np.arange(n) * 60 + 1_700_000_000,
            np.linspace(0, 100, n),
            np.linspace(100, 0, n),
            disks={"vm_id": ["vm-0"], "disk_id": ["d0"], "ts": [1_700_000_000], "used_gb": [1.5]},
        )
    )
    doc.update(overrides)
    return doc


def test_round_trip_keeps_every_value() -> None:
    b = decode_batch(orjson.dumps(batch()), now=NOW)
    assert list(b.samples.vm_id) == [f"vm-{i}" for i in range(5)]
    assert b.samples.ts.tolist() == [1_700_000_000 + 60 * i for i in range(5)]
    assert b.samples.cpu_pct.tolist() == [0, 25, 50, 75, 100]
    assert b.samples.cpu_pct.dtype == np.float32
    assert b.disks.used_gb.tolist() == [1.5]
    assert b.rejects == []
    assert b.source == "test"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cpu_pct", None, "cpu_pct must be a number"),
        ("cpu_pct", "12", "cpu_pct must be a number"),
        ("cpu_pct", True, "cpu_pct must be a number"),
        ("mem_pct", 100.5, "mem_pct above 100"),
        ("mem_pct", -1, "mem_pct is negative"),
        ("ts", "x", "ts must be an integer epoch second"),
        ("ts", 1_700_000_000.5, "ts must be an integer epoch second"),
        ("ts", 100, "ts before 2000-01-01"),
        ("ts", NOW + 3600, "ts in the future"),
        ("vm_id", "", "vm_id must be a non-empty string of at most 128 characters"),
        ("vm_id", 7, "vm_id must be a non-empty string of at most 128 characters"),
        ("vm_id", "v" * 129, "vm_id must be a non-empty string of at most 128 characters"),
    ],
)
def test_bad_row_is_rejected_with_reason_and_the_rest_kept(field, value, reason) -> None:
    doc = batch()
    doc[field][2] = value
    b = decode_batch(orjson.dumps(doc), now=NOW)
    assert [(r.section, r.index, r.reason) for r in b.rejects] == [("samples", 2, reason)]
    assert b.rejects[0].row[field] == value
    assert list(b.samples.vm_id) == ["vm-0", "vm-1", "vm-3", "vm-4"]


def test_first_reason_wins_when_a_row_has_several_faults() -> None:
    doc = batch()
    doc["vm_id"][1] = ""
    doc["cpu_pct"][1] = -5
    b = decode_batch(orjson.dumps(doc), now=NOW)
    assert len(b.rejects) == 1 and b.rejects[0].index == 1


def test_bad_disk_row_is_rejected_in_its_section() -> None:
    doc = batch()
    doc["disks"]["used_gb"][0] = -3
    b = decode_batch(orjson.dumps(doc), now=NOW)
    assert [(r.section, r.reason) for r in b.rejects] == [("disks", "used_gb is negative")]
    assert len(b.samples) == 5 and len(b.disks) == 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (orjson.dumps(batch(schema="other/1")), "schema must be 'cloudtally.samples/1'"),
        (orjson.dumps(batch(source="")), "source must be a non-empty string"),
        (orjson.dumps(batch(extra=1)), "unknown fields ['extra']"),
        (orjson.dumps({**batch(), "ts": [1]}), "samples arrays differ in length"),
        (orjson.dumps({**batch(), "cpu_pct": 5}), "samples.cpu_pct must be an array"),
    ],
)
def test_unusable_message_is_rejected_whole(raw: bytes, reason: str) -> None:
    with pytest.raises(BatchRejected, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_batch(raw, now=NOW)


def test_missing_field_is_named() -> None:
    doc = batch()
    del doc["mem_pct"]
    with pytest.raises(BatchRejected, match=r"samples missing fields \['mem_pct'\]"):
        decode_batch(orjson.dumps(doc), now=NOW)


def test_partition_is_stable_and_spread() -> None:
    parts = [partition_for(f"vm-{i}", 4) for i in range(1000)]
    assert parts == [partition_for(f"vm-{i}", 4) for i in range(1000)]
    assert sorted(set(parts)) == [0, 1, 2, 3]
    assert min(parts.count(p) for p in range(4)) > 150
