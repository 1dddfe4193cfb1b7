"""Input a real encoder sends that the project's own does not: NaN, Infinity, control ids."""

from __future__ import annotations

import json

import orjson
import pytest

from cloudtally.core.ids import id_problem
from cloudtally.core.inventory import InventoryRejected, decode_event
from cloudtally.core.samples import BatchRejected, decode_batch
from cloudtally.core.samples_arrow import encode_arrow_batch

NOW = 1_700_000_100
T = 1_700_000_000


def python_json_batch(cpu: list[float], vm_ids: list[str] | None = None) -> bytes:
    """What Python's json module writes by default (allow_nan=True): literal NaN/Infinity."""
    ids = vm_ids or [f"vm-{i}" for i in range(len(cpu))]
    doc = {
        "schema": "cloudtally.samples/1",
        "source": "py-agent",
        "vm_id": ids,
        "ts": [T] * len(cpu),
        "cpu_pct": cpu,
        "mem_pct": [1.0] * len(cpu),
    }
    return json.dumps(doc).encode()


def test_literal_nan_and_infinity_are_row_rejects_and_the_good_rows_stay() -> None:
    raw = python_json_batch([1.0, float("nan"), 2.0, float("inf"), float("-inf"), 3.0])
    assert b"NaN" in raw and b"-Infinity" in raw
    batch = decode_batch(raw, now=NOW)
    assert list(batch.samples.vm_id) == ["vm-0", "vm-2", "vm-5"]
    assert [(r.index, r.reason) for r in batch.rejects] == [
        (1, "cpu_pct must be a number"),
        (3, "cpu_pct must be a number"),
        (4, "cpu_pct must be a number"),
    ]
    # The reject's row still serialises for the dead letter (NaN becomes null).
    assert orjson.loads(orjson.dumps(batch.rejects[0].row))["cpu_pct"] is None


def test_nan_in_a_broken_message_is_still_a_message_reject() -> None:
    with pytest.raises(BatchRejected, match="not valid JSON"):
        decode_batch(b'{"cpu_pct": [NaN, ', now=NOW)


@pytest.mark.parametrize(
    ("vm_id", "reason"),
    [
        ("vm\x00a", "vm_id contains control character U+0000"),
        ("vm\na", "vm_id contains control character U+000A"),
        ("vm\x7f", "vm_id contains control character U+007F"),
        ("vm\x85", "vm_id contains control character U+0085"),
    ],
)
def test_ids_with_control_characters_are_rejected_with_the_reason(vm_id: str, reason: str) -> None:
    raw = python_json_batch([1.0, 2.0], ["vm-ok", vm_id])
    batch = decode_batch(raw, now=NOW)
    assert list(batch.samples.vm_id) == ["vm-ok"]
    assert [(r.index, r.reason) for r in batch.rejects] == [(1, reason)]


def test_a_lone_surrogate_cannot_be_stored_and_rejects_the_message() -> None:
    assert id_problem("vm\ud800", "vm_id") == "vm_id contains control character U+D800"
    raw = python_json_batch([1.0, 2.0], ["vm-ok", "vm\ud800"])  # orjson refuses it
    with pytest.raises(BatchRejected, match="not valid JSON"):
        decode_batch(raw, now=NOW)


def test_ids_of_any_script_with_inner_spaces_are_allowed() -> None:
    for ok in ("海南-政务云-001", "vm a", "ВМ-7", "x" * 128):
        assert id_problem(ok, "vm_id") is None
    assert id_problem("x" * 129, "vm_id") is not None


def test_arrow_batches_follow_the_same_id_rule() -> None:
    raw = encode_arrow_batch("agent", ["vm-ok", "vm\x00b"], [T, T], [1.0, 2.0], [1.0, 2.0])
    batch = decode_batch(raw, now=NOW)
    assert list(batch.samples.vm_id) == ["vm-ok"]
    assert [(r.index, r.reason) for r in batch.rejects] == [
        (1, "vm_id contains control character U+0000")
    ]


def test_a_source_with_a_control_character_rejects_the_message() -> None:
    raw = python_json_batch([1.0]).replace(b'"py-agent"', b'"py\\u0000agent"')
    with pytest.raises(BatchRejected, match="source contains control character U"):
        decode_batch(raw, now=NOW)


def test_inventory_ids_follow_the_same_rule() -> None:
    ev = {
        "schema": "cloudtally.inventory/1",
        "event": "created",
        "vm_id": "vm-1",
        "ts": T,
        "bureau": "b\x01",
        "system": "s",
        "pool": "p",
        "provider": "x",
        "vcpu": 1,
        "mem_gb": 1,
    }
    with pytest.raises(InventoryRejected, match=r"bureau: .*control character U\+0001"):
        decode_event(orjson.dumps(ev))
