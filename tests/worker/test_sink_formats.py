"""One fleet sent as JSON (cloudtally.samples/1) and as Arrow (/2) lands identical rows."""

from __future__ import annotations

from typing import Any

from cloudtally.collectors.badinput import BadInputPlan
from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.core.samples_arrow import encode_arrow_batch
from cloudtally.worker.sink import IngestSink, RawMessage

START = 1_759_075_200  # 2025-09-29T00:00:00+08:00
TABLES = {
    "samples": "SELECT vm_id, ts, cpu_pct, mem_pct, source FROM samples FINAL ORDER BY vm_id, ts",
    "disk_samples": "SELECT vm_id, disk_id, ts, used_gb, source FROM disk_samples FINAL "
    "ORDER BY vm_id, disk_id, ts",
    "rollup_queue": "SELECT DISTINCT vm_id, hour FROM rollup_queue ORDER BY vm_id, hour",
    "dead_letters": "SELECT partition, offset, section, row_index, reason FROM dead_letters "
    "ORDER BY offset, section, row_index",
}


def messages(wire_format: str) -> list[RawMessage]:
    """The fleet's day in 500-row messages, with the same planted bad rows in each format."""
    fleet = Fleet.build(9, 40, 2, 5, start=START, end=START + 86400)
    plan = BadInputPlan(0.003, seed=5, wire_format=wire_format)
    encode = encode_arrow_batch if wire_format == "arrow" else encode_batch
    out: list[RawMessage] = []
    for chunk in fleet.samples(START, START + 86400, 300, chunk_rows=3000):
        s, d = chunk.samples, chunk.disks
        for lo in range(0, len(s), 500):
            sl = slice(lo, lo + 500)
            sc: dict[str, Any] = {
                "vm_id": s.vm_id[sl],
                "ts": s.ts[sl],
                "cpu_pct": s.cpu_pct[sl],
                "mem_pct": s.mem_pct[sl],
            }
            dc: dict[str, Any] = {
                "vm_id": d.vm_id[sl],
                "disk_id": d.disk_id[sl],
                "ts": d.ts[sl],
                "used_gb": d.used_gb[sl],
            }
            sc, dc = plan.corrupt(len(out), 0, sc, dc)
            raw = encode("simulate", sc["vm_id"], sc["ts"], sc["cpu_pct"], sc["mem_pct"], disks=dc)
            out.append(RawMessage("samples", 0, len(out), raw))
    assert {r.kind for r in plan.rows} >= {"cpu_null", "ts_string", "vm_id_empty"}
    return out


def snapshot(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {name: store.rows(sql) for name, sql in TABLES.items()}


def test_json_and_arrow_land_identical_rows(store) -> None:  # type: ignore[no-untyped-def]
    sink = IngestSink(store)
    got: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for wire_format in ("json", "arrow"):
        msgs = messages(wire_format)
        assert (msgs[0].value or b"")[:1] == (b"{" if wire_format == "json" else b"\xff")
        # Two flushes, so the sink concatenates several messages per insert.
        half = len(msgs) // 2
        sink.write_samples(msgs[:half])
        sink.write_samples(msgs[half:])
        got[wire_format] = snapshot(store)
        for table in TABLES:
            store.execute(f"TRUNCATE TABLE {table}")
    j, a = got["json"], got["arrow"]
    assert len(j["samples"]) > 10_000 and len(j["disk_samples"]) > 1000
    assert j["dead_letters"], "planted rows were dead-lettered"
    for table in TABLES:
        assert a[table] == j[table], table


def test_one_flush_mixes_both_formats_and_keeps_each_source(store) -> None:  # type: ignore[no-untyped-def]
    ts = [START, START + 300]
    json_msg = encode_batch("node", ["vm-j", "vm-j"], ts, [1.0, 2.0], [3.0, 4.0])
    arrow_msg = encode_arrow_batch(
        "simulate",
        ["vm-a", ""],
        ts,
        [5.0, 6.0],
        [7.0, 8.0],
        disks={"vm_id": ["vm-a"], "disk_id": ["d0"], "ts": [START], "used_gb": [9.5]},
    )
    result = IngestSink(store).write_samples(
        [RawMessage("samples", 0, 0, json_msg), RawMessage("samples", 0, 1, arrow_msg)]
    )
    assert result.rows == {"samples": 3, "disk_samples": 1}
    assert [(d["offset"], d["row_index"], d["reason"][:5]) for d in result.dead_letters] == [
        (1, 1, "vm_id")
    ]
    assert store.rows(
        "SELECT vm_id, ts, cpu_pct, source FROM samples FINAL ORDER BY vm_id, ts"
    ) == [
        ("vm-a", _utc(START), 5.0, "simulate"),
        ("vm-j", _utc(START), 1.0, "node"),
        ("vm-j", _utc(START + 300), 2.0, "node"),
    ]
    assert store.rows("SELECT DISTINCT vm_id FROM rollup_queue ORDER BY vm_id") == [
        ("vm-a",),
        ("vm-j",),
    ]


def _utc(ts: int) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC)
