"""Messages the collectors produce: valid against schemas/, and planted bad input is
rejected by the real decoders with the planted reason."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import orjson
import pytest

from cloudtally.collectors.badinput import (
    MESSAGE_KINDS,
    ROW_KINDS,
    BadInputPlan,
    bad_inventory_event,
    bad_message,
)
from cloudtally.collectors.fleet import Fleet
from cloudtally.core.inventory import InventoryRejected, decode_event
from cloudtally.core.samples import BatchRejected, decode_batch, encode_batch

from .conftest import START

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NOW = START + 10 * 86400


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def chunk():  # type: ignore[no-untyped-def]
    fleet = Fleet.build(9, 40, 2, 5, start=START, end=START + 86400)
    return next(fleet.samples(START, START + 86400, 300, chunk_rows=3000))


def columns(chunk, rows: slice = slice(0, 600)):  # type: ignore[no-untyped-def]
    s, d = chunk.samples, chunk.disks
    sc = {
        "vm_id": s.vm_id[rows],
        "ts": s.ts[rows],
        "cpu_pct": s.cpu_pct[rows],
        "mem_pct": s.mem_pct[rows],
    }
    dc = {
        "vm_id": d.vm_id[rows],
        "disk_id": d.disk_id[rows],
        "ts": d.ts[rows],
        "used_gb": d.used_gb[rows],
    }
    return sc, dc


def encode(sc: dict, dc: dict | None) -> bytes:
    return encode_batch("simulate", sc["vm_id"], sc["ts"], sc["cpu_pct"], sc["mem_pct"], disks=dc)


def test_real_batches_validate_and_round_trip(chunk) -> None:  # type: ignore[no-untyped-def]
    v = validator("samples")
    sc, dc = columns(chunk)
    assert len(dc["ts"]) > 0
    raw = encode(sc, dc)
    v.validate(orjson.loads(raw))
    out = decode_batch(raw, now=NOW)
    assert out.rejects == []
    assert list(out.samples.vm_id) == list(sc["vm_id"])
    assert np.array_equal(out.samples.ts, sc["ts"])
    assert np.allclose(out.samples.cpu_pct, sc["cpu_pct"], atol=0.001)
    assert np.allclose(out.disks.used_gb, dc["used_gb"], atol=0.001)


def test_inventory_events_validate() -> None:
    v = validator("inventory")
    fleet = Fleet.build(9, 40, 2, 5, start=START, end=START + 3 * 86400)
    events = fleet.inventory_events()
    assert {e.event for e in events} == {"created", "updated", "deleted"}
    for e in events:
        raw = e.to_json()
        v.validate(orjson.loads(raw))
        assert decode_event(raw) == e


def test_planted_rows_are_rejected_with_their_reason(chunk) -> None:  # type: ignore[no-untyped-def]
    v = validator("samples")
    plan = BadInputPlan(0.01, seed=3)
    sc, dc = columns(chunk)
    n_good, n_good_disk = len(sc["ts"]), len(dc["ts"])
    # Several messages so every row kind comes up and indexes shift within a message.
    planted_seen = 0
    for seq in range(3):
        s2, d2 = plan.corrupt(seq, 0, dict(sc), dict(dc))
        raw = encode(s2, d2)
        mine = [r for r in plan.rows if r.message_seq == seq]
        assert len(s2["ts"]) + len(d2["ts"]) == n_good + n_good_disk + len(mine)
        assert not v.is_valid(orjson.loads(raw)), "a planted row breaks the schema"
        out = decode_batch(raw, now=NOW)
        got = sorted((r.section, r.index, r.reason) for r in out.rejects)
        want = sorted((r.section, r.row_index) for r in mine)
        assert [(s, i) for s, i, _ in got] == want
        for (_, _, reason), r in zip(
            got, sorted(mine, key=lambda r: (r.section, r.row_index)), strict=True
        ):
            assert reason.startswith(r.reason), (reason, r)
        # the good rows all survive, unchanged and in order
        assert len(out.samples) == n_good and len(out.disks) == n_good_disk
        assert list(out.samples.vm_id) == list(sc["vm_id"])
        assert np.array_equal(out.samples.ts, sc["ts"])
        planted_seen += len(mine)
    assert planted_seen == len(plan.rows) == int(3 * (n_good + n_good_disk) * 0.01)
    assert {r.kind for r in plan.rows} == set(ROW_KINDS)


@pytest.mark.parametrize("kind", list(MESSAGE_KINDS))
def test_planted_bad_messages_fail_schema_and_decode(kind: str) -> None:
    raw = bad_message(kind)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if kind == "length_mismatch":
        # JSON Schema cannot say "arrays of equal length": only the decoder catches it.
        assert validator("samples").is_valid(doc)
    elif doc is not None:
        assert not validator("samples").is_valid(doc)
    with pytest.raises(BatchRejected) as exc:
        decode_batch(raw, now=NOW)
    assert str(exc.value).startswith(MESSAGE_KINDS[kind])


def test_bad_message_plan_cycles_kinds_and_plants_each_once() -> None:
    plan = BadInputPlan(0.25)  # one bad message per 4 good ones
    kinds = [plan.after_good_message() for _ in range(12)]
    assert kinds == [
        "not_json",
        None,
        None,
        None,
        "wrong_schema",
        None,
        None,
        None,
        "length_mismatch",
        None,
        None,
        None,
    ]
    for i, k in enumerate(kinds):
        if k:
            plan.record_message(i, 0, k)
    assert plan.remaining_kinds() == ["json_array"]
    assert BadInputPlan(0.0).after_good_message() is None
    with pytest.raises(ValueError):
        BadInputPlan(1.5)


def test_planted_bad_inventory_event_is_rejected() -> None:
    key, raw = bad_inventory_event(START)
    assert key == b"vm-bad-inventory"
    assert not validator("inventory").is_valid(orjson.loads(raw))
    with pytest.raises(InventoryRejected, match=r"^bureau"):
        decode_event(raw)
