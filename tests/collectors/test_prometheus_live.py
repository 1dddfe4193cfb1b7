"""A real node_exporter scraped by a real Prometheus feeds ``collect prometheus``.

The samples stored (through the real broker and the worker's sink) equal what
PromQL answers for the same instants, within 0.01 percentage points.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtally.collectors.prometheus import run
from cloudtally.collectors.promsource import PromSource
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.core.inventory import InventoryEvent
from cloudtally.settings import Settings
from cloudtally.store import Store
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.collectors.realparts import Drain, node_fixture, promql, wait_for

VM = "127.0.0.1"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    yield from node_fixture(tmp_path_factory.mktemp("live"))


def wait_for_scrapes(server: str, seconds: int = 16) -> None:
    """Prometheus (1 s scrapes) holds at least this many seconds of the exporter."""

    def scraped() -> float:
        got = promql(server, "count_over_time(node_memory_MemTotal_bytes[1m])", int(time.time()))
        return max(got.values(), default=0.0)

    wait_for(lambda: scraped() >= seconds, 60, f"{seconds} s of scrapes")


def add_inventory(store: Store, vm_ids: list[str], ts: int, **kw: Any) -> None:
    sink = IngestSink(store, consumer="collectors-test")
    events = [
        InventoryEvent.model_validate(
            {
                "event": "created",
                "vm_id": vm,
                "ts": ts,
                "name": kw.get("name", ""),
                "bureau": kw.get("bureau", "b1"),
                "system": kw.get("system", "s"),
                "pool": kw.get("pool", "p1"),
                "provider": kw.get("provider", "prov1"),
                "vcpu": kw.get("vcpu", 2),
                "mem_gb": kw.get("mem_gb", 4),
            }
        )
        for vm in vm_ids
    ]
    sink.write_inventory([RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(events)])


def test_stored_samples_match_promql_at_the_same_instants(
    live: tuple[int, str], chdb_store: Store, broker: str, settings: Callable[..., Settings]
) -> None:
    _, server = live
    wait_for_scrapes(server)
    add_inventory(chdb_store, [VM], 1_700_000_000)
    src = PromSource(
        source="live",
        server=server,
        preset="node_exporter",
        step=2,
        rate_window=10,
        vm_id_regex=r"([^:]+):\d+",
        max_points=4,  # several query_range windows
        delay=0,
    )
    s = settings()
    now = int(time.time())
    stats = run(s, src, now - 14, now - 2, follow=False, view=DirectStoreView(chdb_store))
    assert stats["windows"] >= 2 and stats["unknown_series"] == 0, stats
    drain = Drain(s.kafka_bootstrap, s.topic_samples, chdb_store)
    try:
        drain.until_idle()
    finally:
        drain.close()

    rows = chdb_store.rows(
        "SELECT toUnixTimestamp(ts), cpu_pct, mem_pct, source FROM samples FINAL "
        "WHERE vm_id = %(vm)s ORDER BY ts",
        {"vm": VM},
    )
    assert len(rows) == stats["samples"] >= 5, (rows, stats)
    assert {r[3] for r in rows} == {"prometheus:live"}
    q = src.queries()
    for ts, cpu, mem, _ in rows:
        assert ts % 2 == 0
        want_cpu = list(promql(server, q["cpu_pct"].query, ts).values())
        want_mem = list(promql(server, q["mem_pct"].query, ts).values())
        assert len(want_cpu) == len(want_mem) == 1
        assert abs(cpu - want_cpu[0]) <= 0.01, (ts, cpu, want_cpu)
        assert abs(mem - want_mem[0]) <= 0.01, (ts, mem, want_mem)
    disks = chdb_store.rows(
        "SELECT DISTINCT disk_id FROM disk_samples FINAL WHERE vm_id = %(vm)s", {"vm": VM}
    )
    assert disks, "node_filesystem_* gave no filesystem"
    # The capacity the guest has, as node_exporter sees it: this host's CPUs and memory.
    from cloudtally.collectors.node import read_memory

    seen = chdb_store.rows(
        "SELECT vcpu, mem_gb FROM observed_allocation FINAL WHERE vm_id = %(vm)s", {"vm": VM}
    )
    assert seen and {r[0] for r in seen} == {os.cpu_count()}
    assert abs(seen[0][1] - read_memory()[0] / 2**30) < 0.001
    # The watermark the store proves is the end of the backfill.
    beats = DirectStoreView(chdb_store).watermark("prometheus:live", range(s.samples_partitions))
    assert beats == max(r[0] for r in rows), (beats, rows[-1])


def test_series_not_in_inventory_are_dead_lettered_with_reason(
    live: tuple[int, str], chdb_store: Store, broker: str, settings: Callable[..., Settings]
) -> None:
    from kafka import KafkaConsumer

    _, server = live
    src = PromSource(
        source="stranger", server=server, preset="node_exporter", step=5, rate_window=10, delay=0
    )
    s = settings()
    now = int(time.time())
    stats = run(s, src, now - 20, now - 5, follow=False, view=DirectStoreView(chdb_store))
    assert stats["samples"] == 0 and stats["unknown_series"] >= 1, stats
    c = KafkaConsumer(
        s.topic_dead_letter,
        bootstrap_servers=s.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    docs = [json.loads(m.value) for m in c]
    c.close()
    assert docs and all("is not in inventory" in d["reason"] for d in docs), docs
    assert docs[0]["topic"] == "collector:prometheus:stranger"
    assert "127.0.0.1:" in json.loads(docs[0]["payload"])["labels"]["instance"]


def test_follows_real_time_after_the_backfill(
    live: tuple[int, str],
    server_store: Store,
    broker: str,
    settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    """The CLI as deployed (cluster mode): backfill a few seconds, then keep up with now."""
    import subprocess
    import sys

    from cloudtally.broker.topics import ensure_topics

    _, server = live
    wait_for_scrapes(server)
    add_inventory(server_store, [VM], 1_700_000_000)
    s = settings()
    ensure_topics(s)
    (tmp_path / "live.yaml").write_text(
        f"source: follow\nserver: {server}\npreset: node_exporter\nstep: 2\nrate_window: 10\n"
        "vm_id_regex: '([^:]+):\\d+'\ndelay: 1\n"
    )
    drain = Drain(s.kafka_bootstrap, s.topic_samples, server_store)
    drain.start()
    view = DirectStoreView.open(s.resolved_store_url, s.database)
    started = int(time.time())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudtally.cli",
            "collect",
            "prometheus",
            str(tmp_path / "live.yaml"),
            "--from",
            str(started - 10),
        ],
        env={**os.environ, **s.as_env(), "CLOUDTALLY_MODE": "cluster"},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "collector.log").open("w"),
    )
    try:
        # Past the backfill's end (start time) by several steps: it is following.
        wait_for(
            lambda: (
                (view.watermark("prometheus:follow", range(s.samples_partitions)) or 0)
                >= started + 8
                or proc.poll() is not None
            ),
            90,
            "the watermark to follow real time",
        )
        assert proc.poll() is None, (tmp_path / "collector.log").read_text()[-2000:]
    finally:
        proc.terminate()
        proc.wait(20)
        drain.stop()
        drain.close()
        view.close()
    ts = [
        r[0]
        for r in server_store.rows(
            "SELECT toUnixTimestamp(ts) FROM samples FINAL WHERE source = 'prometheus:follow' "
            "ORDER BY ts"
        )
    ]
    # One sample per step from --from on, no step missing while it followed.
    assert ts and ts[0] <= started - 6 and ts[-1] >= started + 8
    assert all(b - a == 2 for a, b in itertools.pairwise(ts)), ts
