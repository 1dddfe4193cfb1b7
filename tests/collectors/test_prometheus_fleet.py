"""A fleet's history in a real Prometheus TSDB (promtool), backfilled by ``collect prometheus``.

50 VMs x 3 days at 10-minute samples, built with ``promtool tsdb
create-blocks-from openmetrics`` from node_exporter-named series. The collector
runs as its own process (cluster mode: it reads its watermark from the 18.16
server); it is killed with SIGKILL mid-backfill and started again. Every
(vm, ts) of the simulator lands exactly once with the simulator's values, and
the rollups and bills equal those of the same fleet fed by the simulator.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloudtally.collectors.fleet import Fleet
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.devtools.promfleet import build_tsdb, source_yaml, write_openmetrics
from cloudtally.settings import Settings
from cloudtally.store import Store
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.collectors.realparts import Drain, binary, start_prometheus, wait_for
from tests.conftest import _fresh
from tests.sim import json_batch

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = int(dt.datetime(2025, 3, 3, tzinfo=SHANGHAI).timestamp())  # a Monday
T1 = T0 + 3 * 86_400
INTERVAL = 600
DISK_INTERVAL = 3_600
SOURCE = "prometheus:fleet"

pytestmark = [pytest.mark.server, pytest.mark.broker]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet.build(seed=5, vms=50, pools=2, bureaus=5, providers=2, start=T0, end=T1)


@pytest.fixture(scope="module")
def fleet_prometheus(
    fleet: Fleet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    tmp = tmp_path_factory.mktemp("fleet-prom")
    om = tmp / "fleet.om"
    with om.open("w") as out:
        counts = write_openmetrics(fleet, T0, T1, INTERVAL, DISK_INTERVAL, out)
    build_tsdb(om, tmp / "tsdb", binary("promtool"))
    prom, url = start_prometheus(tmp, [], tsdb=tmp / "tsdb")
    try:
        yield url, counts
    finally:
        prom.stop()


def _inventory(store: Store, fleet: Fleet) -> None:
    sink = IngestSink(store, consumer="collectors-test")
    events = fleet.inventory_events()
    sink.write_inventory([RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(events)])


def _simulated(store: Store, fleet: Fleet) -> None:
    """The same fleet fed by the simulator's own samples (the reference)."""
    _inventory(store, fleet)
    sink = IngestSink(store, consumer="collectors-test")
    for n, c in enumerate(fleet.samples(T0, T1, INTERVAL, disk_interval=DISK_INTERVAL)):
        sink.write_samples([RawMessage("samples", 0, n, json_batch(c))])


def _collector(s: Settings, source_file: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **s.as_env(), "CLOUDTALLY_MODE": "cluster"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudtally.cli",
            "collect",
            "prometheus",
            str(source_file),
            "--from",
            dt.datetime.fromtimestamp(T0, SHANGHAI).isoformat(),
            "--to",
            dt.datetime.fromtimestamp(T1 - INTERVAL, SHANGHAI).isoformat(),
            "--no-follow",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
    )


def _derive(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    from cloudtally.core.policy import parse_yaml, policy_from_document
    from cloudtally.policy import configured_policy, example_policy_text
    from cloudtally.worker.derive import Derivation

    doc = parse_yaml(example_policy_text())
    for version in doc["versions"]:
        version["utilization"] = {"expected_sample_interval_s": INTERVAL}
    Derivation(store, policy_from_document(doc)).rollup()
    Derivation(store, configured_policy(None)).rate(now=T1 + 12 * 3600)
    return {
        "usage": store.rows(
            "SELECT vm_id, toUnixTimestamp(hour), samples, round(cpu_avg, 3), "
            "round(storage_used_gb, 3), coverage FROM usage_hourly FINAL ORDER BY vm_id, hour"
        ),
        "bills": store.rows(
            "SELECT vm_id, day, resource, quantity, list_amount, after_cut FROM bill_lines FINAL "
            "ORDER BY vm_id, day, resource"
        ),
    }


@pytest.mark.timeout(900)  # ~1 min on a quiet machine; the box is shared
def test_backfill_killed_and_restarted_lands_every_sample_once_and_bills_alike(
    fleet: Fleet,
    fleet_prometheus: tuple[str, Any],
    server_store: Store,
    clickhouse_server: Any,
    broker: str,
    settings: Callable[..., Settings],
    tmp_path: Path,
    test_id: str,
) -> None:
    from cloudtally.broker.topics import ensure_topics

    url, counts = fleet_prometheus
    s = settings()
    ensure_topics(s)
    _inventory(server_store, fleet)
    source_file = tmp_path / "fleet.yaml"
    # 2-hour windows: 36 query_range rounds, so the kill lands mid-backfill.
    source_file.write_text(source_yaml(url, "fleet", INTERVAL, max_points=12))
    drain = Drain(s.kafka_bootstrap, s.topic_samples, server_store)
    drain.start()
    view = DirectStoreView.open(s.resolved_store_url, s.database)  # its own connection
    parts = range(s.samples_partitions)
    try:
        port = free_port()
        first = _collector(
            s, source_file, tmp_path / "collector-1.log", "--metrics-port", str(port)
        )
        wait_for(
            lambda: (view.watermark(SOURCE, parts) or 0) >= T0 + 86_400 or first.poll() is not None,
            400,
            "a day of the backfill stored",
        )
        assert first.poll() is None, "the collector finished before it could be killed"
        # Its health on /metrics while it runs.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            health = r.read().decode()
        assert f'cloudtally_collector_last_success_timestamp_seconds{{source="{SOURCE}"}}' in health
        assert f'cloudtally_samples_produced_total{{source="{SOURCE}"}}' in health
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = view.watermark(SOURCE, parts)
        assert killed_at is not None and killed_at < T1 - INTERVAL
        second = _collector(s, source_file, tmp_path / "collector-2.log")
        out, _ = second.communicate(timeout=600)
        assert second.returncode == 0, (tmp_path / "collector-2.log").read_text()[-3000:]
        stats = json.loads(out.decode().strip().splitlines()[-1])
        # Resumed after what the store had by then (the drain went on storing what the
        # first process had sent before the kill), not from --from.
        assert killed_at < stats["resumed_from"] <= T1 - INTERVAL, (stats, killed_at)
        assert stats["windows"] < 36, stats
        wait_for(
            lambda: view.watermark(SOURCE, parts) == T1 - INTERVAL, 300, "the last beat stored"
        )
    finally:
        drain.stop()
        view.close()
    drain.until_idle()
    drain.close()

    got = server_store.columns(
        "SELECT vm_id, ts, cpu_pct, mem_pct FROM samples FINAL ORDER BY vm_id, ts"
    )
    want = list(fleet.samples(T0, T1, INTERVAL, disk_interval=DISK_INTERVAL))
    w_vm = np.concatenate([c.samples.vm_id for c in want]).astype(str)
    w_ts = np.concatenate([c.samples.ts for c in want])
    w_cpu = np.concatenate([c.samples.cpu_pct for c in want])
    w_mem = np.concatenate([c.samples.mem_pct for c in want])
    o = np.lexsort((w_ts, w_vm))
    assert len(got["ts"]) == counts.samples == len(w_ts)
    assert (got["vm_id"].astype(str) == w_vm[o]).all() and (got["ts"] == w_ts[o]).all()
    assert np.abs(got["cpu_pct"] - w_cpu[o]).max() < 1e-3
    assert np.abs(got["mem_pct"] - w_mem[o]).max() < 1e-3
    disks = server_store.scalar("SELECT count() FROM disk_samples FINAL")
    assert disks == counts.disk_samples
    # Raw rows before merging may repeat a window (the one in flight at the kill); FINAL
    # keeps one per key, and nothing else was sent twice.
    raw = server_store.scalar("SELECT count() FROM samples")
    assert counts.samples <= raw <= counts.samples + 12 * 50

    with _fresh(f"{clickhouse_server.url}/sim_{test_id}", f"sim_{test_id}") as reference:
        _simulated(reference, fleet)
        want_derived = _derive(reference)
    got_derived = _derive(server_store)
    assert len(got_derived["usage"]) == len(want_derived["usage"]) > 0
    for g, w in zip(got_derived["usage"], want_derived["usage"], strict=True):
        assert g[:3] == w[:3] and g[5] == pytest.approx(w[5])
        for a, b in zip(g[3:5], w[3:5], strict=True):
            assert (a is None and b is None) or abs(a - b) <= 0.002, (g, w)
    assert got_derived["bills"] == want_derived["bills"]
    assert got_derived["bills"], "nothing was rated"
