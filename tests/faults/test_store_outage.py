"""A ClickHouse server outage far past the store retry budget loses nothing.

Real parts: Tansu, the worker process, a ClickHouse 18.16 server of this test's
own that is stopped and brought back on the same data folder and ports. The
retry budget is set to 10 s and the outages last several times that, past the
old ~48 s point at which Faust acked the failed batch. Also: the worker is
stopped (SIGTERM) while it holds a batch, and a new worker starts while the
store is still down: it waits, then ingests. Exact counts at the end, and the
consumer group's committed offsets do not move past the held batch on SIGTERM
(the mechanism: tests/worker/test_held_offsets.py).
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cloudtally.collectors.simulate import SimulationReport, run
from cloudtally.devtools.clickhouse_server import ClickHouseServer, free_port, server_binary
from cloudtally.store import open_store
from tests.conftest import unavailable
from tests.e2e.test_pipeline import wait_until, worker_process

pytestmark = [pytest.mark.e2e, pytest.mark.server]

BUDGET_S = 10.0
COMMON: dict[str, Any] = dict(
    seed=11, vms=60, pools=2, bureaus=4, interval=300, rows_per_message=200
)


def phase(s: Any, n: int) -> SimulationReport:
    """Produce the n-th 4-hour slice (disjoint timestamps, so the counts add up)."""
    start = 1772380800 + n * 4 * 3600  # 2026-03-02T00:00+08:00
    return run(s, start=start, end=start + 4 * 3600, **COMMON)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def held_stages(base: str) -> set[str]:
    """Stages /readyz reports as held past the retry budget."""
    status, body = get(f"{base}/readyz")
    if status != 503 or '"held"' not in body:
        return set()
    return {h["stage"] for h in json.loads(body)["held"]}


def metric(base: str, name: str, labels: str = "") -> float | None:
    _, text = get(f"{base}/metrics")
    m = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def counts(url: str, database: str) -> dict[str, int]:
    store = open_store(url, database)
    try:
        return {
            "samples": store.scalar("SELECT count() FROM samples FINAL"),
            "keys": store.scalar("SELECT uniqExact(vm_id, ts) FROM samples"),
            "raw": store.scalar("SELECT count() FROM samples"),
            "disks": store.scalar("SELECT count() FROM disk_samples FINAL"),
        }
    finally:
        store.close()


def committed(s: Any) -> dict[int, int]:
    """The consumer group's committed offsets on the samples topic, per partition."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    try:
        got = admin.list_group_offsets(s.consumer_group)[s.consumer_group]
    finally:
        admin.close()
    return {tp.partition: m.offset for tp, m in got.items() if tp.topic == s.topic_samples}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.timeout(600)  # two outages of ~30 s plus three worker starts, on a busy machine
def test_store_outage_past_the_retry_budget_and_down_at_start(broker, settings, tmp_path) -> None:
    if server_binary() is None:
        unavailable("ClickHouse server binary missing (Debian package clickhouse-server)")
    ch_dir, tcp, http = tmp_path / "ch", free_port(), free_port()
    server = ClickHouseServer(ch_dir, tcp, http).start()
    db = "outage"
    s = settings(
        store_url=f"{server.url}/{db}",
        database=db,
        api_port=free_port(),
        derive_enabled=False,
        store_retry_budget_s=BUDGET_S,
        store_retry_max_delay_s=2.0,
    )
    base = f"http://127.0.0.1:{s.api_port}"
    log = tmp_path / "worker.log"
    reports: list[SimulationReport] = []
    measured: dict[str, float] = {}

    def stored(n: int) -> bool:
        try:
            c = counts(server.url, db)
        except Exception:  # not migrated yet, or the server still starting
            return False
        return c["samples"] == sum(r.good_samples for r in reports[:n])

    try:
        with worker_process(s, log, with_api=True) as first:
            reports.append(phase(s, 0))
            wait_until(lambda: stored(1), "phase 0 stored", first, log)

            # Outage A: held in one worker for 3x the retry budget, then the store returns.
            server.stop()
            down_at = time.monotonic()
            reports.append(phase(s, 1))
            wait_until(
                lambda: "samples" in held_stages(base),
                "readiness to report the batch held past the budget",
                first,
                log,
            )
            assert metric(base, "cloudtally_store_unavailable") == 1
            assert metric(base, "cloudtally_store_held_batches", '{stage="samples"}') == 1
            status, body = get(f"{base}/readyz")
            assert status == 503 and json.loads(body)["status"] == "store unavailable"
            while time.monotonic() - down_at < 3 * BUDGET_S:
                assert first.poll() is None, log.read_text()[-3000:]
                time.sleep(1)
            measured["worker_rss_mib_held"] = rss_mib(first.pid)
            held_s = metric(base, "cloudtally_store_held_seconds", '{stage="samples"}') or 0
            assert held_s > 2 * BUDGET_S
            server = ClickHouseServer(ch_dir, tcp, http).start()
            measured["outage_a_s"] = time.monotonic() - down_at
            wait_until(lambda: stored(2), "phase 1 stored after the outage", first, log)
            wait_until(lambda: get(f"{base}/readyz")[0] == 200, "ready again", first, log)
            assert metric(base, "cloudtally_store_unavailable") == 0
            assert metric(base, "cloudtally_store_held_seconds", '{stage="samples"}') == 0

            # Outage B: the worker is stopped while it holds a batch.
            server.stop()
            down_at = time.monotonic()
            reports.append(phase(s, 2))
            wait_until(
                lambda: (
                    (metric(base, "cloudtally_store_held_batches", '{stage="samples"}') or 0) == 1
                ),
                "a batch held",
                first,
                log,
            )
            before_stop = committed(s)
        # SIGTERM while holding: the worker stops by itself (not the fixture's SIGKILL).
        assert first.returncode != -signal.SIGKILL, log.read_text()[-3000:]
        assert "for redelivery" in log.read_text()
        # Nothing committed past the held batch (Faust's stream stop used to ack it: #11).
        assert committed(s) == before_stop
        measured["worker_stopped_after_s"] = time.monotonic() - down_at
        # A new worker starts while the store is still down: it waits for it.
        log2 = tmp_path / "worker2.log"
        with worker_process(s, log2, with_api=True) as second:
            wait_until(
                lambda: "store not reachable at start" in log2.read_text(),
                "the new worker waiting for the store",
                second,
                log2,
            )
            reports.append(phase(s, 3))
            time.sleep(3)  # still waiting, not exited
            assert second.poll() is None
            server = ClickHouseServer(ch_dir, tcp, http).start()
            measured["outage_b_s"] = time.monotonic() - down_at
            wait_until(lambda: stored(4), "every phase stored", second, log2, timeout=180)
            time.sleep(2)  # anything still in flight would land now
            final = counts(server.url, db)
            good = sum(r.good_samples for r in reports)
            assert final["samples"] == final["keys"] == good
            assert final["disks"] == sum(r.good_disk_samples for r in reports)
            wait_until(
                lambda: get(f"{base}/readyz")[0] == 200, "the new worker ready", second, log2
            )
        print(f"outage figures: {measured}, samples {good}, raw rows {final['raw']}")
    finally:
        server.stop()
