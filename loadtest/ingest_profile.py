"""Where the worker's ingest time goes: drain a filled topic, sampled (issue 14 item 3).

Fills the samples topic once with the simulator (Tansu, as ``make bench``), then lets a
fresh worker drain it twice — derivation timers off (ingest path only) and on (as in
production) — each in a new consumer group and chDB folder, sampled by
``stack_sampler.py`` (py-spy cannot attach to this machine's Python build). Right
after, the same rows are inserted straight into the same store: the ratios come from
one run. Prints
samples/s, the ratios and the top self-time frames of each profile; writes
``loadtest/results/ingest-profile-latest.json``.

    python loadtest/ingest_profile.py [--vms 15000 --minutes 360]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import direct_insert_rate, free_port, metric, wait_ready
from year_fixture import machine

ROOT = Path(__file__).resolve().parents[1]


# Leaf frames of a thread that is waiting, not working: the sampler itself, an idle
# thread-pool thread, the event loop in select(), a lock or condition wait.
IDLE = ("run (stack_sampler.py", "_worker (thread.py", "select (selectors.py",
        "wait (threading.py", "_acquire_restore (threading.py", "sleep")  # fmt: skip


def _stacks(raw: Path) -> list[tuple[str, int]]:
    """Collapsed stacks (``a;b;c count``) as (stack, samples), busy threads only."""
    out = []
    for line in raw.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        if stack and not stack.split(";")[-1].startswith(IDLE):
            out.append((stack, int(k)))
    return out


def top_frames(raw: Path, n: int = 25) -> list[tuple[str, float]]:
    """Self time per frame, percent of the busy samples."""
    counts: collections.Counter[str] = collections.Counter()
    stacks = _stacks(raw)
    for stack, k in stacks:
        counts[stack.split(";")[-1]] += k
    total = max(1, sum(k for _, k in stacks))
    return [(f, round(100 * c / total, 1)) for f, c in counts.most_common(n)]


def categories(raw: Path) -> dict[str, float]:
    """Share of the busy samples whose stack passes through each stage (inclusive)."""
    marks = {
        "kafka fetch+parse (aiokafka)": "(fetcher.py",
        "faust stream/events": "(streams.py",
        "decode+validate (core.samples)": "(samples_arrow.py",  # the Arrow wire format
        "store insert (chDB)": "insert (chdb_store.py",
        "rollup queue keys": "_queue_rollups (",
        "derivation (rollups, rating)": "(derive.py",
        "api/metrics": "(h11_impl.py",
    }
    hits: collections.Counter[str] = collections.Counter()
    stacks = _stacks(raw)
    for stack, k in stacks:
        for name, mark in marks.items():
            if mark in stack:
                hits[name] += k
    total = max(1, sum(k for _, k in stacks))
    return {name: round(100 * hits[name] / total, 1) for name in marks}


def drain(py: str, env: dict[str, str], work: Path, expected: int, label: str, derive: bool,
          spy: bool) -> dict[str, object]:  # fmt: skip
    port = free_port()
    env = {**env, "CLOUDTALLY_API_PORT": str(port), "CLOUDTALLY_CONSUMER_GROUP": f"drain-{label}",
           "CLOUDTALLY_STORE_URL": f"chdb://{work / f'chdb-{label}'}",
           "CLOUDTALLY_DERIVE_ENABLED": str(derive).lower()}  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    raw = work / f"profile-{label}.txt"
    sampler = [str(Path(__file__).parent / "stack_sampler.py"), str(raw)] if spy else []
    worker = subprocess.Popen([py, *sampler, "-m", "cloudtally.cli", "worker", "--with-api"],
                              env=env,
                              stdout=(work / f"worker-{label}.log").open("wb"),
                              stderr=subprocess.STDOUT)  # fmt: skip
    rss_peak = 0
    try:
        wait_ready(base, worker, timeout=600)  # a loaded shared machine starts slowly
        proc = psutil.Process(worker.pid)
        rss_idle = proc.memory_info().rss
        first = done = 0.0
        t_first = 0.0
        deadline = time.perf_counter() + 900
        c0 = proc.cpu_times()
        while done < expected and time.perf_counter() < deadline:
            time.sleep(0.5)  # a /metrics render costs the worker CPU (~5 % at 10 Hz)
            rss_peak = max(rss_peak, proc.memory_info().rss)
            done = metric(base, "cloudtally_samples_ingested_total", 'table="samples"')
            if done and not first:
                first, t_first = done, time.perf_counter()
        t_done = time.perf_counter()
        c1 = proc.cpu_times()
        time.sleep(2.5)  # the sampler's last rewrite
    finally:
        worker.terminate()
        worker.wait(60)
    out: dict[str, object] = {
        "samples_per_s": round((done - first) / max(t_done - t_first, 1e-9)),
        "seconds": round(t_done - t_first, 2),
        "worker_cpu_s": round((c1.user + c1.system) - (c0.user + c0.system), 1),
        "rss_idle_mb": round(rss_idle / 2**20), "rss_peak_mb": round(rss_peak / 2**20),
    }  # fmt: skip
    if raw.exists() and raw.stat().st_size:
        out["stages_pct"] = categories(raw)
        out["top_self_pct"] = top_frames(raw)
        shutil.copy(raw, ROOT / f"loadtest/results/ingest-profile-{label}.txt")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vms", type=int, default=15_000)
    ap.add_argument("--minutes", type=int, default=360)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--rows-per-message", type=int, default=2000)
    ap.add_argument("--no-spy", action="store_true")
    args = ap.parse_args()
    from cloudtally.broker.embedded import EmbeddedBroker
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="cloudtally-ingest-profile-"))
    settings = Settings(data_dir=work, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                        api_auth=False)  # fmt: skip
    env = {
        **os.environ,
        "CLOUDTALLY_DATA_DIR": str(work),
        "CLOUDTALLY_API_AUTH": "false",
        "CLOUDTALLY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CLOUDTALLY_LANG": "en",
    }  # fmt: skip  (the simulator's summary is parsed)
    end = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp())
    start = end - args.minutes * 60
    py = sys.executable
    result: dict[str, object] = {"vms": args.vms, "minutes": args.minutes,
                                 "rows_per_message": args.rows_per_message}  # fmt: skip
    try:
        with EmbeddedBroker(settings, log_dir=work / "logs"):
            ensure_topics(settings)
            sim = subprocess.run(
                [py, "-m", "cloudtally.cli", "simulate", "--seed", "7", "--vms", str(args.vms),
                 "--pools", "4", "--bureaus", "120",
                 "--start", dt.datetime.fromtimestamp(start, dt.UTC).isoformat(),
                 "--end", dt.datetime.fromtimestamp(end, dt.UTC).isoformat(),
                 "--interval", str(args.interval), "--format", "arrow",
                 "--rows-per-message", str(args.rows_per_message)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            expected = int(sim.stdout.split("samples: ")[1].split(" good")[0].replace(",", ""))
            result["samples"] = expected
            for label, derive in (("ingest-only", False), ("with-derive", True)):
                result[label] = drain(py, env, work, expected, label, derive, not args.no_spy)
                print(label, json.dumps(result[label]), flush=True)
        rate, _rows = direct_insert_rate(f"chdb://{work / 'chdb-direct'}", args.vms, start, end,
                                         args.interval, 1_000_000, 7)  # fmt: skip
        result["direct_insert_samples_per_s"] = round(rate)
        for label in ("ingest-only", "with-derive"):
            r = result[label]
            assert isinstance(r, dict)
            r["ratio_vs_direct"] = round(r["samples_per_s"] / rate, 3)
        result["goal_worker_alone_ratio"] = 0.7
        result["machine"] = machine()
        result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    (ROOT / "loadtest/results/ingest-profile-latest.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
