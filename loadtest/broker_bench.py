"""The ingest cost of the durable embedded broker: Tansu on memory vs on s3rver (s3://).

For each storage engine, on a fresh broker and data folder:
  * broker only: the simulator's producer (Arrow, 2,000 samples per message)
    sends the fleet, flushed = every message acknowledged; then one consumer
    reads every message back. samples/s each way.
  * end to end: the same producer → broker → ``cloudtally worker --with-api`` → chDB,
    from the first sample sent until the worker has written the last.
Runs alternate between the engines ``--repeat`` times (default 3; medians are
reported, every run is kept). Prints each figure, the s3/memory ratios, and writes them to
loadtest/results/broker-storage-latest.json (and a timestamped copy).

Usage: python loadtest/broker_bench.py [--vms 3000] [--minutes 120] [--interval 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import RESULTS, free_port, metric, wait_ready

END = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp())


def settings_for(storage: str, work: Path) -> Any:
    from cloudtally.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=work,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        broker_storage=storage,
        broker_s3_port=free_port(),
        api_port=free_port(),
        api_auth=False,
        derive_enabled=False,
    )


def fleet_chunks(vms: int, start: int, interval: int) -> tuple[Any, list[Any], int]:
    from cloudtally.collectors.fleet import Fleet

    fleet = Fleet.build(7, vms, 4, 120, start=start, end=END)
    chunks = list(fleet.samples(start, END, interval))
    return fleet, chunks, sum(len(c.samples) for c in chunks)


def produce(bootstrap: str, topic: str, fleet: Any, chunks: list[Any]) -> tuple[float, int, int]:
    """Send every chunk with the simulator's producer; (seconds until all acked, messages,
    partitions)."""
    import numpy as np

    from cloudtally.collectors.producer import SampleProducer
    from cloudtally.core.samples import partition_for

    sp = SampleProducer(bootstrap, topic, source="bench")
    parts = np.array([partition_for(v, sp.partitions) for v in fleet.vm_ids], np.int32)
    sp.use_vm_ids(fleet.vm_ids)
    t = time.perf_counter()
    for c in chunks:
        sp.send_chunk(
            c.samples, None, sample_partitions=parts[c.vm_index], sample_vm_index=c.vm_index
        )
    sp.flush()
    seconds = time.perf_counter() - t
    sp.close()
    return seconds, sp.messages_sent, sp.partitions


def broker_only(storage: str, vms: int, start: int, interval: int) -> dict[str, float]:
    from kafka import KafkaConsumer, TopicPartition

    from cloudtally.broker.stack import BrokerStack
    from cloudtally.broker.topics import ensure_topics

    fleet, chunks, n = fleet_chunks(vms, start, interval)
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as d:
        s = settings_for(storage, Path(d))
        with BrokerStack(s, Path(d) / "logs") as stack:
            ensure_topics(s)
            produce_s, messages, partitions = produce(
                stack.bootstrap, s.topic_samples, fleet, chunks
            )
            consumer = KafkaConsumer(
                bootstrap_servers=stack.bootstrap,
                enable_auto_commit=False,
                max_partition_fetch_bytes=8 << 20,
                fetch_max_bytes=64 << 20,
            )
            tps = [TopicPartition(s.topic_samples, p) for p in range(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            got, t = 0, time.perf_counter()
            deadline = t + 600
            while got < messages and time.perf_counter() < deadline:
                got += sum(len(r) for r in consumer.poll(500).values())
            consume_s = time.perf_counter() - t
            consumer.close()
            disk = sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())
    if got < messages:
        raise SystemExit(f"{storage}: consumed {got} of {messages} messages")
    return {
        "samples": n,
        "messages": messages,
        "produce_samples_per_s": round(n / produce_s),
        "consume_samples_per_s": round(n / consume_s),
        "broker_data_mb": round(disk / 2**20, 1),
    }


def end_to_end(storage: str, vms: int, start: int, interval: int) -> dict[str, float]:
    """Producer in this process (no interpreter start-up in the figure), worker as its own
    process on chDB: from the first message sent until the worker has stored the last."""
    from cloudtally.broker.stack import BrokerStack
    from cloudtally.broker.topics import ensure_topics

    fleet, chunks, n = fleet_chunks(vms, start, interval)
    work = Path(tempfile.mkdtemp(prefix="broker-bench-e2e-"))
    s = settings_for(storage, work)
    env = {**os.environ, **s.as_env(), "CLOUDTALLY_MODE": "embedded"}
    base = f"http://127.0.0.1:{s.api_port}"
    ingested = 'table="samples"'
    try:
        with BrokerStack(s, work / "logs") as stack:
            ensure_topics(s)
            worker = subprocess.Popen(
                [sys.executable, "-m", "cloudtally.cli", "worker", "--with-api"],
                env=env,
                stdout=(work / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            try:
                wait_ready(base, worker, timeout=600)  # a busy machine starts slowly
                t0 = time.perf_counter()
                produce(stack.bootstrap, s.topic_samples, fleet, chunks)
                while metric(base, "cloudtally_samples_ingested_total", ingested) < n:
                    if time.perf_counter() - t0 > 1800 or worker.poll() is not None:
                        raise SystemExit(f"{storage}: ingest did not finish; see {work}")
                    time.sleep(0.1)
                e2e_s = time.perf_counter() - t0
            finally:
                worker.terminate()
                worker.wait(60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"end_to_end_samples_per_s": round(n / e2e_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vms", type=int, default=3000)
    ap.add_argument("--minutes", type=int, default=120, help="simulated time span")
    ap.add_argument("--interval", type=int, default=60, help="seconds between samples per VM")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine (medians reported)")
    args = ap.parse_args()
    start = END - args.minutes * 60
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 1),
        "vms": args.vms,
        "minutes": args.minutes,
        "interval": args.interval,
    }
    runs: dict[str, list[dict[str, float]]] = {"memory": [], "s3": []}
    for i in range(args.repeat):  # alternate, so a busy spell on the machine hits both
        for storage in ("memory", "s3") if i % 2 == 0 else ("s3", "memory"):
            run = {
                **broker_only(storage, args.vms, start, args.interval),
                **end_to_end(storage, args.vms, start, args.interval),
            }
            runs[storage].append(run)
            print(storage, json.dumps(run), flush=True)
    for storage, rs in runs.items():  # the median of each figure over the repeats
        result[storage] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        result[storage]["runs"] = rs
    mem, s3 = result["memory"], result["s3"]
    result["ratio_s3_vs_memory"] = {
        k: round(s3[k] / mem[k], 3)
        for k in ("produce_samples_per_s", "consume_samples_per_s", "end_to_end_samples_per_s")
    }
    result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 1)
    print("s3 / memory:", json.dumps(result["ratio_s3_vs_memory"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in ("broker-storage-latest.json", f"broker-storage-{stamp}.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS / 'broker-storage-latest.json'}")


if __name__ == "__main__":
    main()
