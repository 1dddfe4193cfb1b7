"""Backfill rate of ``collect prometheus`` from a real Prometheus, Prometheus's own time apart.

A simulated fleet (default 200 VMs x 7 days at 5-minute samples) is written as
node_exporter-named OpenMetrics, turned into a TSDB by ``promtool tsdb
create-blocks-from openmetrics``, served by Debian's Prometheus on loopback; the
collector backfills it into an embedded Tansu broker (samples, heartbeats,
observed capacity). Reported: samples/s end to end, the seconds spent waiting on
Prometheus's query_range answers, and the collector's own rate without them.

    PYTHONPATH=services python loadtest/collectors_bench.py [--vms 200 --days 7 --interval 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from cloudtally.broker.embedded import EmbeddedBroker
from cloudtally.collectors.fleet import Fleet
from cloudtally.collectors.prometheus import PromClient, run
from cloudtally.collectors.promsource import PromSource
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.devtools.promfleet import build_tsdb, source_yaml, write_openmetrics
from cloudtally.settings import Settings
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate
from cloudtally.worker.sink import IngestSink, RawMessage

RESULTS = Path(__file__).resolve().parent / "results"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _wait(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vms", type=int, default=200)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--interval", type=int, default=300)
    ap.add_argument("--max-points", type=int, default=2_000, help="steps per query_range")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="collectors-bench-"))
    t0 = int(dt.datetime(2025, 3, 3, tzinfo=SHANGHAI).timestamp())
    t1 = t0 + args.days * 86_400
    fleet = Fleet.build(seed=9, vms=args.vms, pools=2, bureaus=10, providers=2, start=t0, end=t1)
    result: dict[str, object] = {"vms": args.vms, "days": args.days, "interval_s": args.interval}
    try:
        w = time.perf_counter()
        with (tmp / "fleet.om").open("w") as out:
            counts = write_openmetrics(fleet, t0, t1, args.interval, 3600, out)
        result["openmetrics_s"] = round(time.perf_counter() - w, 2)
        result["openmetrics_lines"] = counts.lines
        w = time.perf_counter()
        build_tsdb(tmp / "fleet.om", tmp / "tsdb")
        result["promtool_s"] = round(time.perf_counter() - w, 2)

        port = free_port()
        (tmp / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=100y",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = f"http://127.0.0.1:{port}"
        try:
            _wait(f"{server}/-/ready")
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                kafka_bootstrap=f"127.0.0.1:{free_port()}",
                data_dir=tmp,
                topic_samples="bench-samples",
                topic_inventory="bench-inventory",
                topic_dead_letter="bench-dl",
            )
            store = open_store(f"chdb://{tmp / 'chdb'}", "bench")
            migrate(store)
            IngestSink(store).write_inventory(
                [
                    RawMessage("inventory", 0, i, e.to_json())
                    for i, e in enumerate(fleet.inventory_events())
                ]
            )
            src_doc = source_yaml(server, "bench", args.interval, max_points=args.max_points)
            import yaml

            src = PromSource.model_validate(yaml.safe_load(src_doc))
            # Generous: on a shared 2-core box one query_range over 200 VMs can take minutes.
            client = PromClient(src.server, timeout=600, retries=src.retries)
            with EmbeddedBroker(settings, tmp):
                w = time.perf_counter()
                c = time.process_time()
                stats = run(
                    settings,
                    src,
                    t0,
                    t1 - args.interval,
                    follow=False,
                    view=DirectStoreView(store),
                    client=client,
                )
                wall = time.perf_counter() - w
                cpu = time.process_time() - c
            store.close()
        finally:
            prom.terminate()
            prom.wait(30)
        n = int(stats["samples"])
        result.update(
            {
                "samples": n,
                "disk_samples": stats["disk_samples"],
                "expected_samples": counts.samples,
                "windows": stats["windows"],
                "queries": client.queries,
                "wall_s": round(wall, 2),
                "collector_cpu_s": round(cpu, 2),
                "prometheus_query_s": round(client.query_seconds, 2),
                "samples_per_s": round(n / wall),
                "samples_per_s_without_prometheus": round(
                    n / max(1e-9, wall - client.query_seconds)
                ),
            }
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for name in ("collectors-latest.json", f"collectors-{stamp}.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
