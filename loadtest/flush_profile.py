"""One ingest flush, part by part: what IngestSink.write_samples spends its time on.

No broker, no Faust: --flushes flushes of --messages Arrow messages (2,000 samples
each, 15,000 VMs, as the simulator sends them) go through the sink into a fresh chDB
under cProfile; then the same rows are inserted directly, once per flush, for the
ratio. Prints seconds per flush for each part and writes
loadtest/results/flush-profile-latest.json. Under a minute (no bench lock needed).

    PYTHONPATH=services python loadtest/flush_profile.py [--flushes 3 --messages 250]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from cloudtally.core.samples_arrow import encode_arrow_batch
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate
from cloudtally.worker.sink import IngestSink, RawMessage

ROOT = Path(__file__).resolve().parents[1]
VMS, ROWS, T0 = 15_000, 2_000, 1_780_000_000
PARTS = {  # label: (file suffix, function name) in the cProfile output
    "samples insert": ("worker/sink.py", "_insert"),
    "decode and checks": ("core/samples_arrow.py", "decode_arrow_batches"),
    "rollup-queue keys and insert": ("worker/sink.py", "_queue_rollups"),
    "vm_sampled": ("worker/sink.py", "_note_sampled"),
    "ingest_log": ("worker/sink.py", "_record"),
}


def flush(ids: pa.Array, first: int, messages: int) -> list[RawMessage]:
    out = []
    for k in range(first, first + messages):
        row = np.arange(ROWS) + k * ROWS
        ts = (T0 + (row // VMS) * 60).astype(np.int64)
        cpu = np.full(ROWS, 5.0, np.float32)
        raw = encode_arrow_batch("simulate", ids.take(pa.array(row % VMS)), ts, cpu, cpu, None,
                                 interval_s=60)  # fmt: skip
        out.append(RawMessage("samples", k % 4, k, raw))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flushes", type=int, default=3)
    ap.add_argument("--messages", type=int, default=250, help="messages per flush")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flush-profile-"))
    try:
        store = open_store(f"chdb://{work}", "flush_profile")
        migrate(store)
        ids = pa.array([f"vm-{i:05d}" for i in range(VMS)])
        sink = IngestSink(store, max_future_s=10**9)
        sink.write_samples(flush(ids, 0, 20))  # warm: first ids into vm_sampled
        batches = [flush(ids, (i + 1) * 10_000, args.messages) for i in range(args.flushes)]
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for b in batches:
            sink.write_samples(b)
        prof.disable()
        per_flush = (time.perf_counter() - t0) / args.flushes
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        parts = {}
        for label, (suffix, fn) in PARTS.items():
            cum = sum(v[3] for (f, _line, name), v in stats.items()
                      if f.endswith(suffix) and name == fn)  # fmt: skip
            parts[label] = round(cum / args.flushes, 3)
        direct = []
        for b in batches:
            table = pa.concat_tables(
                [pa.ipc.open_stream(m.value).read_all().replace_schema_metadata(None) for m in b]
            ).combine_chunks()
            cols = {n: table.column(n) for n in table.column_names}
            t = time.perf_counter()
            store.insert("samples", cols, {"source": "direct", "version": 1, "interval_s": 60})
            direct.append(time.perf_counter() - t)
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = args.messages * ROWS
    direct_s = statistics.median(direct)
    result = {
        "rows_per_flush": rows,
        "flushes": args.flushes,
        "seconds_per_flush": round(per_flush, 3),
        "parts_seconds_per_flush": parts,
        "direct_insert_seconds_per_flush": round(direct_s, 3),
        "sink_samples_per_s": round(rows / per_flush),
        "direct_samples_per_s": round(rows / direct_s),
        "ratio_sink_vs_direct": round(direct_s / per_flush, 3),
        "note": "in one process, cProfile on (it slows the Python parts a little)",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = ROOT / "loadtest/results/flush-profile-latest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
