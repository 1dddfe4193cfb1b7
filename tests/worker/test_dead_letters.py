"""Dead letters against the real stores: identity, sections, bounded topic records."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jsonschema
import orjson
from tests.worker.test_sink import T0

from cloudtally.worker.dead_letters import topic_record
from cloudtally.worker.sink import IngestSink, RawMessage

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "dead_letter.schema.json").read_text()
)


def batch(cpu: list[float], used_gb: list[float]) -> bytes:
    n, d = len(cpu), len(used_gb)
    return orjson.dumps(
        {
            "schema": "cloudtally.samples/1",
            "source": "test",
            "vm_id": [f"vm-{i}" for i in range(n)],
            "ts": [T0] * n,
            "cpu_pct": cpu,
            "mem_pct": [10.0] * n,
            "disks": {
                "vm_id": [f"vm-{i}" for i in range(d)],
                "disk_id": ["d0"] * d,
                "ts": [T0] * d,
                "used_gb": used_gb,
            },
        }
    )


def stored(store) -> list[tuple]:
    return store.rows(
        "SELECT partition, offset, section, row_index, reason, message_sha256 "
        "FROM dead_letters FINAL ORDER BY offset, message_sha256, section, row_index"
    )


def test_sample_and_disk_rejects_with_the_same_row_index_are_two_records(store) -> None:
    raw = batch([5.0, 250.0], [1.0, -3.0])  # row 1 bad in both sections
    msg = RawMessage("samples", 0, 7, raw)
    result = IngestSink(store).write_samples([msg])
    sha = hashlib.sha256(raw).hexdigest()
    assert stored(store) == [
        (0, 7, "disks", 1, "used_gb is negative", sha),
        (0, 7, "samples", 1, "cpu_pct above 100", sha),
    ]
    ids = [r["id"] for r in result.dead_letters]
    assert len(set(ids)) == 2
    keys = {topic_record(r, 1024)[0] for r in result.dead_letters}
    assert keys == {i.encode() for i in ids}
    for r in result.dead_letters:
        jsonschema.validate(orjson.loads(topic_record(r, 1024)[1]), SCHEMA)


def test_identity_survives_offsets_restarting_at_zero(store) -> None:
    """A memory-storage broker restarted: a different message reuses (partition, offset)."""
    sink = IngestSink(store)
    before = RawMessage("samples", 0, 0, b"not json, first life of the broker")
    after = RawMessage("samples", 0, 0, b"not json, second life of the broker")
    first = sink.write_samples([before])
    sink.write_samples([after])
    again = sink.write_samples([before])  # a redelivery of the first: the same record
    rows = stored(store)
    assert len(rows) == 2
    assert {r[5] for r in rows} == {
        hashlib.sha256(before.value).hexdigest(),
        hashlib.sha256(after.value).hexdigest(),
    }
    assert first.dead_letters[0]["id"] == again.dead_letters[0]["id"]
    assert topic_record(first.dead_letters[0], 64)[0] == topic_record(again.dead_letters[0], 64)[0]


def test_huge_bad_message_is_kept_whole_in_the_store_and_bounded_on_the_topic(store) -> None:
    raw = b"\xff" + os.urandom(6 * 1024 * 1024)  # 6 MiB, not UTF-8: 8 MiB as base64
    msg = RawMessage("samples", 2, 41, raw)
    result = IngestSink(store).write_samples([msg])
    (record,) = result.dead_letters
    _, value = topic_record(record, 64 * 1024)
    assert len(value) < 100 * 1024  # far below the producer's request limit
    sent = orjson.loads(value)
    jsonschema.validate(sent, SCHEMA)
    assert sent["payload_truncated"] is True
    assert sent["payload_bytes"] == sent["message_bytes"] == len(raw)
    assert sent["message_sha256"] == hashlib.sha256(raw).hexdigest()
    assert sent["reason"].startswith("not valid JSON")
    row = store.rows(
        "SELECT payload_encoding, length(payload), payload_bytes, message_bytes FROM dead_letters"
    )
    assert row == [("base64", len(record["payload"]), len(raw), len(raw))]


def test_small_payload_goes_to_the_topic_whole() -> None:
    from cloudtally.worker.sink import dead_letter

    rec = dead_letter(RawMessage("samples", 0, 1, ("ü" * 10).encode()), "x", now=T0)
    _, value = topic_record(rec, 1024)
    assert orjson.loads(value)["payload"] == "ü" * 10
    cut = orjson.loads(topic_record(rec, 5)[1])  # never splits a character
    assert cut["payload"] == "üü" and cut["payload_truncated"] is True
