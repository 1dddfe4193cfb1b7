"""A real node_exporter stopped under a real Prometheus is downtime.

The collector runs against the real server through the real broker; the
availability read model sees exactly one incident, starting at the kill (not a rate
window later) and ending when the exporter answers again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cloudtally.collectors.prometheus import run
from cloudtally.collectors.promsource import PromSource
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.core.policy import load_policy
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.evaluation.availability import Scope, assess
from cloudtally.policy import example_policy_text
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.collectors.realparts import (
    NODE_EXPORTER,
    Drain,
    Proc,
    binary,
    promql,
    start_prometheus,
    wait_for,
)
from tests.collectors.test_prometheus_live import add_inventory

VM = "127.0.0.1"
STEP = 2


def node(tmp: Path, port: int, n: int) -> Proc:
    args = [
        binary(NODE_EXPORTER), f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
    ]  # fmt: skip
    return Proc(args, tmp / f"node_exporter-{n}.log", f"http://127.0.0.1:{port}/metrics")


def up_is(server: str, value: float) -> bool:
    got = promql(server, 'up{job="node"}', int(time.time()))
    return bool(got) and all(v == value for v in got.values())


def test_a_stopped_exporter_is_downtime_from_the_first_failed_scrape(
    tmp_path: Path, chdb_store: Store, broker: str, settings: Callable[..., Settings]
) -> None:
    port = free_port()
    exporter = node(tmp_path, port, 1)
    prom, server = start_prometheus(tmp_path, [f"127.0.0.1:{port}"])
    try:
        wait_for(lambda: up_is(server, 1.0), 60, "first scrape")
        time.sleep(12)  # history before the outage (more than the rate window)
        killed = int(time.time())
        exporter.stop()
        wait_for(lambda: up_is(server, 0.0), 30, "up == 0")
        time.sleep(12)
        exporter = node(tmp_path, port, 2)
        wait_for(lambda: up_is(server, 1.0), 30, "scrapes again")
        back = int(time.time())
        time.sleep(12)
        end = (int(time.time()) - 2) // STEP * STEP
        start = (killed - 10) // STEP * STEP  # on the step grid: no gap before the first beat
        add_inventory(chdb_store, [VM], start - 3600)
        src = PromSource(
            source="avail", server=server, preset="node_exporter", step=STEP, rate_window=10,
            vm_id_regex=r"([^:]+):\d+", delay=0,
        )  # fmt: skip
        s = settings()
        stats = run(s, src, start, end, follow=False, view=DirectStoreView(chdb_store))
        assert stats["samples"] > 0, stats
        drain = Drain(s.kafka_bootstrap, s.topic_samples, chdb_store)
        try:
            drain.until_idle()
        finally:
            drain.close()
    finally:
        prom.stop()
        exporter.stop()

    policy = load_policy(example_policy_text())
    a = assess(chdb_store, policy, Scope(start, end - STEP))
    incidents = [i for _, v in a.per_vm for i in v.incidents]
    assert len(incidents) == 1, incidents
    inc = incidents[0]
    # The first failed scrape is within a second of the kill; the step grid adds < STEP
    # (no sample outlives the kill by the 10 s rate window of the CPU query).
    assert killed - STEP <= inc.start <= killed + 2 * STEP, (killed, inc)
    assert back - 2 * STEP <= inc.end <= back + 2 * STEP, (back, inc)
    [(_, v)] = a.per_vm
    assert v.gap_s == 0 and v.down_s == inc.duration_s
