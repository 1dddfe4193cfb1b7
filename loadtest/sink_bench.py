"""The ingest sink alone (decode + validate + insert + rollup keys), per wire format.

No broker and no Faust: the same simulated messages are encoded once as JSON
(cloudtally.samples/1) and once as Arrow (cloudtally.samples/2) and handed to
IngestSink.write_samples in flushes of --flush messages, into a fresh chDB.
CPU seconds are reported next to wall seconds because the box is shared.

    PYTHONPATH=services python loadtest/sink_bench.py [--vms 15000 --minutes 120]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.core.samples_arrow import encode_arrow_batch
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate
from cloudtally.worker.sink import IngestSink, RawMessage

END = 1_772_409_600  # 2026-03-02T00:00:00Z


def messages(fleet: Fleet, start: int, interval: int, rows: int, fmt: str) -> list[RawMessage]:
    encode = encode_arrow_batch if fmt == "arrow" else encode_batch
    out: list[RawMessage] = []
    for chunk in fleet.samples(start, END, interval, chunk_rows=200_000):
        s, d = chunk.samples, chunk.disks
        for lo in range(0, len(s), rows):
            sl = slice(lo, lo + rows)
            disks = {
                "vm_id": d.vm_id[sl],
                "disk_id": d.disk_id[sl],
                "ts": d.ts[sl],
                "used_gb": d.used_gb[sl],
            }
            raw = encode("simulate", s.vm_id[sl], s.ts[sl], s.cpu_pct[sl], s.mem_pct[sl], disks)
            out.append(RawMessage("samples", len(out) % 6, len(out), raw))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=15_000)
    ap.add_argument("--minutes", type=int, default=120)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--rows-per-message", type=int, default=2000)
    ap.add_argument("--flush", type=int, default=300, help="messages per write_samples call")
    args = ap.parse_args()
    start = END - args.minutes * 60
    fleet = Fleet.build(7, args.vms, 4, 120, start=start, end=END)
    result = {}
    for fmt in ("json", "arrow"):
        msgs = messages(fleet, start, args.interval, args.rows_per_message, fmt)
        folder = tempfile.mkdtemp(prefix=f"sink-bench-{fmt}-")
        store = open_store(f"chdb://{folder}")
        migrate(store)
        sink = IngestSink(store)
        rows = 0
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(msgs), args.flush):
            rows += sink.write_samples(msgs[i : i + args.flush]).rows.get("samples", 0)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
        result[fmt] = {
            "samples": rows,
            "messages": len(msgs),
            "bytes_per_sample": round(sum(len(m.value or b"") for m in msgs) / rows, 1),
            "wall_samples_per_s": round(rows / wall),
            "cpu_samples_per_s": round(rows / cpu),
        }
        print(fmt, json.dumps(result[fmt]), flush=True)


if __name__ == "__main__":
    main()
