"""End-to-end ingest benchmark: simulator → Tansu → Faust worker → chDB, on this machine.

Prints, in one run:
  * end-to-end samples/s: from the first sample produced until the worker has
    written the last one (producer and worker running at the same time, as in
    production; both share this machine's cores),
  * worker RSS (peak seen while ingesting),
  * the rate of inserting the same rows straight into the same store (no Kafka,
    no Faust), with the same insert size as the worker, and the ratio.
Writes the same figures to loadtest/results/latest.json (and a timestamped copy).

Usage: python loadtest/bench.py [--vms 15000] [--minutes 360] [--interval 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "loadtest" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(base: str, name: str, labels: str) -> float:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("worker died during start-up")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("worker not ready")


def direct_insert_rate(
    store_url: str, vms: int, start: int, end: int, interval: int, rows_per_insert: int, seed: int
) -> tuple[float, int]:
    """Insert the simulator's rows straight into a fresh database of the same store."""
    from cloudtally.collectors.fleet import Fleet
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    store = open_store(store_url, "bench_direct")
    migrate(store)
    fleet = Fleet.build(seed=seed, vms=vms, pools=4, bureaus=120, start=start, end=end)
    chunks = [c.samples for c in fleet.samples(start, end, interval)]
    total, elapsed, cpu = 0, 0.0, 0.0
    pending: list = []
    version = np.uint64(time.time_ns() // 1_000_000)

    def flush() -> None:
        nonlocal total, elapsed, cpu, pending
        cols = {
            "vm_id": np.concatenate([c.vm_id for c in pending]),
            "ts": np.concatenate([c.ts for c in pending]),
            "cpu_pct": np.concatenate([c.cpu_pct for c in pending]),
            "mem_pct": np.concatenate([c.mem_pct for c in pending]),
        }
        cols["source"] = np.full(len(cols["ts"]), "simulate", dtype=object)
        cols["version"] = np.full(len(cols["ts"]), version, dtype=np.uint64)
        t0, c0 = time.perf_counter(), time.process_time()  # process_time: every thread's CPU
        total += store.insert("samples", cols)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        pending = []

    size = 0
    for c in chunks:
        pending.append(c)
        size += len(c.ts)
        if size >= rows_per_insert:
            flush()
            size = 0
    if pending:
        flush()
    store.execute("DROP DATABASE bench_direct")
    store.close()
    DIRECT_CPU["cpu_s"], DIRECT_CPU["wall_s"] = cpu, elapsed
    return total / elapsed, total


# The last direct insert's CPU and wall seconds (the cores a direct insert uses).
DIRECT_CPU: dict[str, float] = {}


def drain_alone(
    py: str, env: dict[str, str], work: Path, expected: int, broker_pid: int | None = None
) -> dict[str, Any]:
    """A second worker (new consumer group, own chDB folder) drains the already-filled
    topic with no producer competing for the cores: the worker's own ceiling."""
    port = free_port()
    env = {
        **env,
        "CLOUDTALLY_API_PORT": str(port),
        "CLOUDTALLY_CONSUMER_GROUP": "bench-drain",
        "CLOUDTALLY_STORE_URL": f"chdb://{work / 'chdb-drain'}",
    }
    base = f"http://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [py, "-m", "cloudtally.cli", "worker", "--with-api"],
        env=env,
        stdout=(work / "worker-drain.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base, worker)
        from cpu_share import CpuShare

        parts = {"worker": worker.pid, **({"broker": broker_pid} if broker_pid else {})}
        share = CpuShare(processes=parts)
        cpu_first: dict[str, float] = {}
        first = done = 0.0
        t_first = t_done = 0.0
        deadline = time.perf_counter() + 900
        while done < expected and time.perf_counter() < deadline:
            time.sleep(
                0.5
            )  # each poll is a full /metrics render in the worker (~5 % of its CPU at 10 Hz)
            done = metric(base, "cloudtally_samples_ingested_total", 'table="samples"')
            if done and not first:
                first, t_first = done, time.perf_counter()
                cpu_first = share.snapshot()
        t_done = time.perf_counter()
        cores = CpuShare.between(cpu_first, share.snapshot()) if cpu_first else {}
        # Where the drain's time went, by the worker's own histograms: whole flushes
        # (decode, validation, every insert) and the raw-sample inserts within them.
        spent = {
            "wall": t_done - t_first,
            "flushes": metric(base, "cloudtally_flush_seconds_sum", 'topic="samples"'),
            "samples_inserts": metric(base, "cloudtally_insert_seconds_sum", 'table="samples"')
            + metric(base, "cloudtally_insert_seconds_sum", 'table="disk_samples"'),
        }
    finally:
        worker.terminate()
        worker.wait(60)
    rate = (done - first) / max(t_done - t_first, 1e-9)
    return {
        "worker_alone_samples_per_s": round(rate),
        "worker_alone_seconds": {k: round(v, 2) for k, v in spent.items()},
        # Cores used over the drain: the worker (chDB's threads included), Tansu, and
        # what the machine's other jobs took: where the two cores went.
        "worker_alone_cores": cores,
        "rollups_deferred": metric(base, "cloudtally_derivation_deferred_total", 'task="rollup"'),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vms", type=int, default=15_000)
    ap.add_argument("--minutes", type=int, default=360, help="simulated time span")
    ap.add_argument("--interval", type=int, default=60, help="seconds between samples per VM")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--format",
        choices=("arrow", "json"),
        default="arrow",
        help="sample wire format the simulator sends (cloudtally.samples/2 or /1)",
    )
    ap.add_argument("--rows-per-message", type=int, default=2000, help="simulator batch size")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    args = ap.parse_args()

    from cloudtally.broker.embedded import EmbeddedBroker
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="cloudtally-bench-"))
    kafka_port, api_port = free_port(), free_port()
    settings = Settings(
        data_dir=work,
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        api_port=api_port,
        api_auth=False,
    )
    env = {
        **os.environ,
        "CLOUDTALLY_DATA_DIR": str(work),
        "CLOUDTALLY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CLOUDTALLY_API_PORT": str(api_port),
        "CLOUDTALLY_API_AUTH": "false",
        "CLOUDTALLY_MODE": "embedded",
        "CLOUDTALLY_LANG": "en",  # the simulator's summary is parsed below
    }
    end = int(dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC).timestamp())
    start = end - args.minutes * 60
    base = f"http://127.0.0.1:{api_port}"
    py = sys.executable
    result: dict = {}
    with EmbeddedBroker(settings, log_dir=work / "logs") as broker:
        ensure_topics(settings)
        worker = subprocess.Popen(
            [py, "-m", "cloudtally.cli", "worker", "--with-api"],
            env=env,
            stdout=(work / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(base, worker)
            wproc = psutil.Process(worker.pid)
            rss_idle = wproc.memory_info().rss
            t0 = time.perf_counter()
            sim = subprocess.Popen(
                [
                    py,
                    "-m",
                    "cloudtally.cli",
                    "simulate",
                    "--seed",
                    str(args.seed),
                    "--vms",
                    str(args.vms),
                    "--pools",
                    "4",
                    "--bureaus",
                    "120",
                    "--start",
                    dt.datetime.fromtimestamp(start, dt.UTC).isoformat(),
                    "--end",
                    dt.datetime.fromtimestamp(end, dt.UTC).isoformat(),
                    "--interval",
                    str(args.interval),
                    "--format",
                    args.format,
                    "--rows-per-message",
                    str(args.rows_per_message),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            rss_peak = rss_idle
            expected = None
            produced_at = None
            while True:
                time.sleep(0.25)
                rss_peak = max(rss_peak, wproc.memory_info().rss)
                if sim.poll() is not None and produced_at is None:
                    produced_at = time.perf_counter()
                    out = sim.stdout.read().decode() if sim.stdout else ""
                    m = re.search(r"samples: ([0-9_,]+) good", out)
                    if sim.returncode != 0 or not m:
                        raise SystemExit(f"simulator failed:\n{out}")
                    expected = int(m.group(1).replace(",", "").replace("_", ""))
                done = metric(base, "cloudtally_samples_ingested_total", 'table="samples"')
                if expected is not None and done >= expected:
                    inserts = metric(base, "cloudtally_insert_batch_rows_count", 'table="samples"')
                    rows_per_insert = int(done / max(inserts, 1))
                    break
                if time.perf_counter() - t0 > 1800:
                    raise SystemExit(f"timed out: {done} of {expected} samples ingested")
            t_end = time.perf_counter()
            e2e_s = t_end - t0
            result.update(
                samples=expected,
                end_to_end_seconds=round(e2e_s, 2),
                end_to_end_samples_per_s=round(expected / e2e_s),
                producer_seconds=round(produced_at - t0, 2),
                producer_samples_per_s=round(expected / (produced_at - t0)),
                drain_after_producer_s=round(t_end - produced_at, 2),
                worker_rss_idle_mb=round(rss_idle / 2**20, 1),
                worker_rss_peak_mb=round(rss_peak / 2**20, 1),
            )
            print(json.dumps(result), flush=True)
        finally:
            worker.terminate()
            worker.wait(60)
        broker_pid = broker.proc.pid if broker.proc else None
        result.update(drain_alone(py, env, work, expected, broker_pid))
        print(json.dumps(result), flush=True)
    direct_rate, direct_rows = direct_insert_rate(
        settings.resolved_store_url,
        args.vms,
        start,
        end,
        args.interval,
        rows_per_insert,
        args.seed,
    )
    result.update(
        direct_insert_cores=round(DIRECT_CPU["cpu_s"] / max(DIRECT_CPU["wall_s"], 1e-9), 2),
        ratio_worker_alone_vs_direct=round(result["worker_alone_samples_per_s"] / direct_rate, 3),
        worker_rows_per_insert=rows_per_insert,
        direct_insert_samples_per_s=round(direct_rate),
        direct_insert_rows=direct_rows,
        ratio_end_to_end_vs_direct=round(result["end_to_end_samples_per_s"] / direct_rate, 3),
        target_end_to_end_samples_per_s=300_000,
        target_ratio=0.3,
        vms=args.vms,
        wire_format=args.format,
        rows_per_message=args.rows_per_message,
        interval_s=args.interval,
        minutes=args.minutes,
        machine={"cpus": os.cpu_count(), "python": platform.python_version()},
        load_average_after=os.getloadavg(),  # the machine may be shared: say how busy
        when=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / "latest.json").write_text(text + "\n")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"ingest-{stamp}.json").write_text(text + "\n")
    print(text)
    exact_rate = expected / e2e_s  # compared unrounded: a figure never rounds across a goal
    met_rate = "MET" if exact_rate >= 300_000 else "NOT MET"
    print(
        f"\nend to end {result['end_to_end_samples_per_s']:,} samples/s "
        f"(target 300,000: {met_rate}); "
        f"direct insert {result['direct_insert_samples_per_s']:,} samples/s; "
        f"ratio {result['ratio_end_to_end_vs_direct']} (target 0.3: "
        f"{'MET' if exact_rate / direct_rate >= 0.3 else 'NOT MET'}); "
        f"worker peak RSS {result['worker_rss_peak_mb']} MB; worker alone (no producer "
        f"sharing the cores) {result['worker_alone_samples_per_s']:,} samples/s, ratio "
        f"{result['ratio_worker_alone_vs_direct']}"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
