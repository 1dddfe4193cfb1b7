"""Where a process's memory is, sampled from inside it (issue 14, worker memory).

``python loadtest/memory_sampler.py OUT -m module args...`` runs ``module`` (like
``python -m``) with a thread that appends one JSON line to OUT every 0.5 s:

* ``rss``/``pss``/``uss``/``anon``/``file``/``shared`` MiB from /proc/self/smaps_rollup:
  USS = private clean + dirty (what the process alone holds — it includes a library's
  file pages that no other process maps, e.g. chDB's ~200 MB of code when only this
  process has it); ``anon`` = the heaps (Python, numpy, Arrow, chDB's allocator);
  ``file`` = file-backed pages (code; the kernel drops them first under pressure);
  ``threads``;
* ``arrow``/``arrow_max``: bytes in pyarrow's default memory pool now and at its peak;
* ``py``/``py_peak``: the Python heap traced by tracemalloc (only with
  ``CLOUDTALLY_MEMORY_TRACE=1``, which slows the process and adds its own overhead);
  ``top`` holds the ten largest allocation sites each time the traced heap reaches a new
  high by 10 %;
* ``engine``: chDB's own accounting (system.metrics: MemoryTracking and each cache's bytes)
  of the store the process opened, every 2 s — only when that store is chDB;
* ``chdb_loaded``/``pandas_loaded``: whether those modules are in ``sys.modules``, and
  ``chdb_mapped``: whether chDB's shared library is mapped (/proc/self/maps).

The store is found by wrapping ``cloudtally.store.open_store`` before the module runs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

ENGINE_METRICS = ("MemoryTracking", "MarkCacheBytes", "PrimaryIndexCacheBytes",
                  "UncompressedCacheBytes", "QueryCacheBytes", "QueryConditionCacheBytes",
                  "PageCacheBytes", "MMapCacheCells")  # fmt: skip
MB = 2**20


def smaps() -> dict[str, float]:
    """RSS, PSS, USS, anonymous and shared file-backed MiB of this process."""
    kb: dict[str, int] = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f.readlines()[1:]:
            key, _, rest = line.partition(":")
            kb[key] = int(rest.split()[0])
    return {
        "rss": round(kb["Rss"] / 1024, 1),
        "pss": round(kb["Pss"] / 1024, 1),
        "uss": round((kb["Private_Clean"] + kb["Private_Dirty"]) / 1024, 1),
        "anon": round(kb["Anonymous"] / 1024, 1),
        "file": round((kb["Rss"] - kb["Anonymous"]) / 1024, 1),
        "shared": round((kb["Shared_Clean"] + kb["Shared_Dirty"]) / 1024, 1),
        "threads": len(os.listdir("/proc/self/task")),
    }


def chdb_mapped() -> bool:
    with open("/proc/self/maps") as f:
        return any("chdb" in line and ".so" in line for line in f)


def engine_memory(store: Any) -> dict[str, float]:
    """chDB's tracked memory and caches, and its own jemalloc's resident bytes (chDB's
    allocator is its own: Python's and numpy's memory is not in it)."""
    import re

    names = ", ".join(f"'{n}'" for n in ENGINE_METRICS)
    rows = store.rows(f"SELECT metric, value FROM system.metrics WHERE metric IN ({names})")
    out = {name: round(float(value) / MB, 1) for name, value in rows}
    stats = str(store.rows("SELECT * FROM system.jemalloc_stats")[0][0])
    m = re.search(r"Allocated: (\d+), active: \d+, metadata: \d+.*?resident: (\d+)", stats)
    if m:
        out["jemalloc_allocated"] = round(int(m.group(1)) / MB, 1)
        out["jemalloc_resident"] = round(int(m.group(2)) / MB, 1)
    return out


def start(path: str, interval: float = 0.5) -> None:
    import cloudtally.store as store_module

    opened: list[Any] = []
    original = store_module.open_store

    def open_store(*args: Any, **kwargs: Any) -> Any:
        store = original(*args, **kwargs)
        opened.append(store)
        return store

    store_module.open_store = open_store  # type: ignore[assignment]
    trace = os.environ.get("CLOUDTALLY_MEMORY_TRACE") == "1"
    if trace:
        import tracemalloc

        tracemalloc.start(1)

    def run() -> None:
        last_engine, top_at = 0.0, 0.0
        with open(path, "a") as out:
            while True:
                time.sleep(interval)
                row: dict[str, Any] = {"t": round(time.time(), 2), **smaps()}
                pa = sys.modules.get("pyarrow")
                if pa is not None:
                    pool = pa.default_memory_pool()
                    row["arrow"] = round(pool.bytes_allocated() / MB, 1)
                    row["arrow_max"] = round(pool.max_memory() / MB, 1)
                if trace:
                    cur, peak = tracemalloc.get_traced_memory()
                    row["py"], row["py_peak"] = round(cur / MB, 1), round(peak / MB, 1)
                    if cur > top_at * 1.1 and cur > 20 * MB:
                        top_at = cur
                        stats = tracemalloc.take_snapshot().statistics("lineno")[:10]
                        row["top"] = [[str(s.traceback[0]), round(s.size / MB, 1)] for s in stats]
                row["chdb_loaded"] = "chdb" in sys.modules
                row["pandas_loaded"] = "pandas" in sys.modules
                row["chdb_mapped"] = chdb_mapped()
                live = [s for s in opened if getattr(s, "engine", "") == "chdb"]
                if live and time.monotonic() - last_engine > 2:
                    last_engine = time.monotonic()
                    try:
                        row["engine"] = engine_memory(live[0])
                    except Exception as exc:  # closed, or busy at shutdown
                        row["engine_error"] = str(exc)[:200]
                out.write(json.dumps(row) + "\n")
                out.flush()

    threading.Thread(target=run, daemon=True, name="memory-sampler").start()


if __name__ == "__main__":
    from stack_sampler import run_sampled  # the script's folder is on sys.path

    run_sampled(start)
