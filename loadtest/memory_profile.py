"""Where the worker's memory goes, idle and at full ingest, embedded and cluster (issue 14).

For each mode, one worker process (run under ``memory_sampler.py``, which samples
/proc/self/smaps_rollup, pyarrow's pool, chDB's system.metrics and optionally
tracemalloc from inside it) lives through four phases, each summarised:

1. ``idle-empty``: started, nothing to ingest (20 s);
2. ``small-fleet``: a 300-VM day is sent and drained, then the worker idles with
   derivation running (rollups, rating, alerts) for ``--idle-s`` — the "idle on a
   small fleet" goal (≤ 300 MB);
3. ``full-ingest``: the simulator sends 15,000 VMs × 6 hours at its full speed while
   the worker drains it — the "peak at full ingest" goal (≤ 600 MB);
4. ``after``: idle again once everything is written.

Cluster mode runs the worker against a throwaway 18.16 server (its RSS is reported too,
as ``server_rss_mb``: it is not the worker's memory). Prints a table; writes
``loadtest/results/memory-latest.json``. Run under the bench lock:

    flock /work/wt/_bench.lock python loadtest/memory_profile.py [--modes embedded cluster]
        [--vms 15000 --minutes 360] [--trace]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import free_port, metric
from year_fixture import machine

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
END = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp())
GOALS = {"idle_rss_mb": 300, "peak_rss_mb": 600}


def simulate(py: str, env: dict[str, str], seed: int, vms: int, start: int, end: int,
             wait: bool = True) -> subprocess.Popen[str]:  # fmt: skip
    cmd = [py, "-m", "cloudtally.cli", "simulate", "--seed", str(seed), "--vms", str(vms),
           "--pools", "4", "--bureaus", "120",
           "--start", dt.datetime.fromtimestamp(start, dt.UTC).isoformat(),
           "--end", dt.datetime.fromtimestamp(end, dt.UTC).isoformat(),
           "--interval", "60", "--format", "arrow", "--rows-per-message", "2000"]  # fmt: skip
    env = {k: v for k, v in env.items() if k != "CLOUDTALLY_METRICS_PORT"}  # the worker's
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    if wait:
        proc.wait()
    return proc


def sent(proc: subprocess.Popen[str]) -> int:
    out = proc.stdout.read() if proc.stdout else ""
    m = re.search(r"samples: ([0-9_,]+) good", out)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"simulator failed:\n{out}")
    return int(m.group(1).replace(",", "").replace("_", ""))


def summarise(rows: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Peak of each figure in [t0, t1], the median of its last quarter (the settled
    level) for RSS/PSS/USS, and the engine's figures at the RSS peak."""
    phase = [r for r in rows if t0 <= r["t"] <= t1]
    if not phase:
        return {}
    out: dict[str, Any] = {"seconds": round(t1 - t0, 1), "samples": len(phase)}
    for key in ("rss", "pss", "uss", "anon", "file", "arrow", "py", "threads"):
        values = [r[key] for r in phase if key in r]
        if values:
            out[f"{key}_peak_mb"] = max(values)
            out[f"{key}_settled_mb"] = statistics.median(values[-max(1, len(values) // 4) :])
    engines = [r["engine"] for r in phase if "engine" in r]
    if engines:
        out["engine_peak_mb"] = {k: max(e.get(k, 0) for e in engines) for k in engines[0]}
    peak = max(phase, key=lambda r: r["rss"])
    out["at_rss_peak"] = {k: v for k, v in peak.items() if k not in ("top",)}
    tops = [r["top"] for r in phase if "top" in r]
    if tops:
        out["python_top_sites"] = tops[-1]
    out["chdb_loaded"] = any(r.get("chdb_loaded") for r in phase)
    out["chdb_mapped"] = any(r.get("chdb_mapped") for r in phase)
    out["pandas_loaded"] = any(r.get("pandas_loaded") for r in phase)
    return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_mode(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from cloudtally.broker.embedded import EmbeddedBroker
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.devtools.clickhouse_server import ClickHouseServer
    from cloudtally.settings import Settings

    work = work / mode
    work.mkdir(parents=True)
    port = free_port()
    settings = Settings(data_dir=work, kafka_bootstrap=f"127.0.0.1:{free_port()}",
                        api_auth=False)  # fmt: skip
    env = {**os.environ, "CLOUDTALLY_DATA_DIR": str(work), "CLOUDTALLY_API_AUTH": "false",
           "CLOUDTALLY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "CLOUDTALLY_CONSUMER_GROUP": f"memory-{mode}", "CLOUDTALLY_LANG": "en"}  # fmt: skip
    if args.trace:
        env["CLOUDTALLY_MEMORY_TRACE"] = "1"
    py = sys.executable
    samples_file = work / "memory.jsonl"
    server = None
    marks: dict[str, tuple[float, float]] = {}
    load: dict[str, list[float]] = {}
    result: dict[str, Any] = {"mode": mode}
    try:
        with EmbeddedBroker(settings, log_dir=work / "logs"):
            ensure_topics(settings)
            if mode == "cluster":
                server = ClickHouseServer(work / "clickhouse").start()
                env["CLOUDTALLY_STORE_URL"] = f"{server.url}/memprofile"
                env["CLOUDTALLY_METRICS_PORT"] = str(port)
                cmd = ["worker"]
            else:
                env["CLOUDTALLY_API_PORT"] = str(port)
                cmd = ["worker", "--with-api"]
            base = f"http://127.0.0.1:{port}"
            worker = subprocess.Popen(
                [py, str(HERE / "memory_sampler.py"), str(samples_file), "-m", "cloudtally.cli",
                 *cmd], env=env, stdout=(work / "worker.log").open("wb"),
                stderr=subprocess.STDOUT)  # fmt: skip
            try:

                def ingested() -> float:
                    if worker.poll() is not None:
                        raise SystemExit(f"worker exited; see {work / 'worker.log'}")
                    return metric(base, "cloudtally_samples_ingested_total", 'table="samples"')

                def started() -> bool:
                    import urllib.request

                    try:
                        with urllib.request.urlopen(f"{base}/metrics", timeout=2) as r:
                            return r.status == 200 and bool(read_rows(samples_file))
                    except OSError:
                        return False

                deadline = time.monotonic() + 600
                while not started():
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"worker did not start; see {work / 'worker.log'}")
                    time.sleep(0.5)
                time.sleep(5)  # joined the group, timers armed

                def phase(name: str, body: Any) -> None:
                    load[name] = [round(os.getloadavg()[0], 2)]
                    t0 = time.time()
                    body()
                    marks[name] = (t0, time.time())
                    load[name].append(round(os.getloadavg()[0], 2))
                    print(f"{mode} {name}: {marks[name][1] - t0:.0f} s", flush=True)

                def wait_for(total: int) -> None:
                    deadline = time.monotonic() + 1200
                    while ingested() < total:
                        if time.monotonic() > deadline:
                            raise SystemExit(f"{mode}: timed out at {ingested()} of {total}")
                        time.sleep(0.25)

                phase("idle-empty", lambda: time.sleep(args.empty_s))
                small_start = END - 86400 * 2
                expected = 0

                def small() -> None:
                    nonlocal expected
                    expected += sent(simulate(py, env, 3, args.small_vms, small_start,
                                              small_start + 86400))  # fmt: skip
                    wait_for(expected)
                    time.sleep(args.idle_s)

                phase("small-fleet", small)

                def full() -> None:
                    nonlocal expected
                    t0 = time.perf_counter()
                    sim = simulate(py, env, 7, args.vms, END - args.minutes * 60, END, wait=False)
                    sim.wait()
                    n = sent(sim)
                    expected += n
                    wait_for(expected)
                    result["full_ingest_seconds"] = round(time.perf_counter() - t0, 1)
                    result["full_ingest_samples"] = n

                if args.vms:
                    phase("full-ingest", full)
                phase("after", lambda: time.sleep(args.empty_s))
                if server is not None and server.proc is not None:
                    result["server_rss_mb"] = round(
                        psutil.Process(server.proc.pid).memory_info().rss / 2**20
                    )
            except SystemExit:
                tail = (work / "worker.log").read_text(errors="replace").splitlines()[-40:]
                print("\n".join(tail), file=sys.stderr, flush=True)  # the folder goes
                raise
            finally:
                worker.terminate()
                try:
                    worker.wait(60)
                except subprocess.TimeoutExpired:
                    worker.kill()
    finally:
        if server is not None:
            server.stop()
    rows = read_rows(samples_file)
    result["phases"] = {name: {**summarise(rows, *marks[name]), "load_average": load[name]}
                        for name in marks}  # fmt: skip
    if result.get("full_ingest_seconds"):
        n, s = result["full_ingest_samples"], result["full_ingest_seconds"]
        result["full_ingest_samples_per_s"] = round(n / s)
    return result


def allocator_env() -> dict[str, str]:
    """The settings a run was made with that change the worker's memory (so two result
    files can be told apart): the worker's own, pyarrow's pool, the fetch bound and chDB's
    jemalloc's (``JE_MALLOC_CONF``)."""
    names = ("JE_MALLOC_CONF", "CLOUDTALLY_CHDB_MALLOC_CONF", "CLOUDTALLY_TAKE_MAX_MESSAGES",
             "CLOUDTALLY_STREAM_BUFFER_MESSAGES",
             "CLOUDTALLY_MALLOC_ARENA_MAX", "CLOUDTALLY_MALLOC_MMAP_THRESHOLD_KB",
             "CLOUDTALLY_KEPT_RESULTS_MB", "CLOUDTALLY_ARROW_MEMORY_POOL",
             "CLOUDTALLY_CONSUMER_FETCH_PARTITION_KB")  # fmt: skip
    return {n: os.environ[n] for n in names if n in os.environ}


def table(results: dict[str, Any]) -> str:
    lines = ["mode      phase        RSS pk  RSS set  PSS set  USS set  anon set  file set  "
             "arrow pk  py pk  chDB tracked pk  load"]  # fmt: skip
    for mode, r in results.items():
        for name, p in r.get("phases", {}).items():
            eng = p.get("engine_peak_mb", {}).get("MemoryTracking", "-")
            lines.append(
                f"{mode:9} {name:12} {p.get('rss_peak_mb', 0):6.0f}"
                f" {p.get('rss_settled_mb', 0):8.0f}"
                f" {p.get('pss_settled_mb', 0):8.0f} {p.get('uss_settled_mb', 0):8.0f}"
                f" {p.get('anon_settled_mb', 0):9.0f} {p.get('file_settled_mb', 0):9.0f}"
                f" {p.get('arrow_peak_mb', 0):9.0f} {p.get('py_peak_mb', '-')!s:>6}"
                f" {eng!s:>16}  {p['load_average']}"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", nargs="+", default=["embedded", "cluster"],
                    choices=["embedded", "cluster"])  # fmt: skip
    ap.add_argument("--vms", type=int, default=15_000)
    ap.add_argument("--minutes", type=int, default=360)
    ap.add_argument("--small-vms", type=int, default=300)
    ap.add_argument("--idle-s", type=float, default=75, help="idle after the small fleet")
    ap.add_argument("--empty-s", type=float, default=20, help="idle at start and at the end")
    ap.add_argument("--trace", action="store_true", help="tracemalloc in the worker (slower)")
    ap.add_argument("--label", default="latest")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cloudtally-memory-"))
    results: dict[str, Any] = {}
    try:
        for mode in args.modes:
            results[mode] = run_mode(mode, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {"goals": GOALS, "vms": args.vms, "minutes": args.minutes, "small_vms": args.small_vms,
           "trace": args.trace, "allocator_env": allocator_env(), "modes": results,
           "machine": machine(),
           "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
    text = json.dumps(out, indent=2)
    (ROOT / f"loadtest/results/memory-{args.label}.json").write_text(text + "\n")
    print(table(results))
    for mode, r in results.items():
        idle = r["phases"].get("small-fleet", {}).get("rss_settled_mb", 0)
        peak = r["phases"].get("full-ingest", {}).get("rss_peak_mb", 0)
        print(
            f"{mode}: idle RSS on {args.small_vms} VMs {idle:.0f} MB (goal ≤ 300: "
            f"{'MET' if idle <= 300 else 'NOT MET'}), peak RSS {peak:.0f} MB (goal ≤ 600: "
            f"{'MET' if peak <= 600 else 'NOT MET'}), full ingest "
            f"{r.get('full_ingest_samples_per_s', 0):,} samples/s"
        )


if __name__ == "__main__":
    main()
