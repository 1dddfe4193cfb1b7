"""Arrow messages checked together give each message exactly what it gets alone.

The sink validates a flush's Arrow messages in one pass (decode_arrow_batches);
every message must come out with the rows, rejects (index, reason, row) and
whole-message rejection it would have on its own, whatever its neighbours hold.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
from tests.core.test_samples_arrow import (
    DISK_TABLE,
    META,
    NOW,
    T0,
    _empty_stream,
    _good,
    _with_disks,
    cols,
    encode,
    length_mismatch_message,
    samples_table,
    stream,
)

from cloudtally.core.samples import BatchRejected
from cloudtally.core.samples_arrow import decode_arrow_batch, decode_arrow_batches


def with_bad(field: str, value: Any, at: int = 2, disks: Any = None) -> bytes:
    c = {k: list(v) for k, v in cols(6).items()}
    c[field][at] = value
    return encode(c, disks)


def messages() -> list[bytes]:
    bad_disks = {"vm_id": ["vm-0", ""], "disk_id": ["d0", "d1"], "ts": [T0, T0],
                 "used_gb": [-1.0, 2.0]}  # fmt: skip
    return [
        _good(),
        with_bad("cpu_pct", None),
        with_bad("cpu_pct", float("nan"), at=0),
        with_bad("mem_pct", 100.5, at=5),
        with_bad("ts", None),
        with_bad("ts", 100),
        with_bad("ts", NOW + 3600, at=1),
        with_bad("vm_id", ""),
        with_bad("vm_id", None, at=4),
        with_bad("vm_id", "v" * 129),
        with_bad("vm_id", "vm-\x01", at=3),
        with_bad("vm_id", "vm-\u0085"),
        with_bad("vm_id", "云" * 129, at=0, disks=bad_disks),
        _with_disks(),
        encode(cols(4), bad_disks),
        stream(
            samples_table(
                vm_id=pa.array(["a", "b", "a"]).dictionary_encode(),
                cpu_pct=pa.array([1.0, 200.0, 3.0], pa.float64()),
            ),
            META,
        ),
        stream(samples_table(vm_id=pa.array(["x", "", "z"], pa.large_string())), META),
        _empty_stream(),
        _good()[:-8],
        stream(samples_table(cpu_pct=None), META),
        length_mismatch_message(_good(), rows=3, ncols=4),
        _good() + stream(DISK_TABLE.drop_columns(["used_gb"]), {**META, "section": "disks"}),
        encode(cols(2_000)),
    ]


def outcome(result: Any) -> Any:
    if isinstance(result, BatchRejected):
        return ("rejected", str(result))
    return (
        result.source,
        result.interval_s,
        result.samples.to_arrow().to_pylist(),
        result.disks.to_arrow().to_pylist(),
        [(r.section, r.index, r.reason, repr(r.row)) for r in result.rejects],
    )


def alone(raw: bytes) -> Any:
    try:
        return outcome(decode_arrow_batch(raw, now=NOW))
    except BatchRejected as exc:
        return outcome(exc)


def test_each_message_gets_what_it_gets_alone_in_any_company() -> None:
    raws = messages()
    expected = [alone(r) for r in raws]
    assert sum(e[0] == "rejected" for e in expected) == 4  # whole-message rejects are mixed in
    assert sum(1 for e in expected if e[0] != "rejected" and e[4]) >= 12  # and row rejects
    rng = random.Random(14)
    for _ in range(20):
        order = list(range(len(raws)))
        rng.shuffle(order)
        order = order[: rng.randint(1, len(order))]
        got = decode_arrow_batches([raws[i] for i in order], now=NOW)
        assert [outcome(g) for g in got] == [expected[i] for i in order]
    assert decode_arrow_batches([], now=NOW) == []
