"""A cluster-mode worker never loads chDB (issue 14: worker memory).

chDB's library is ~200 MB resident once imported; a worker writing to a ClickHouse
server has no use for it. The worker here is a real process against the real 18.16
server and broker, run through every path a leader takes (ingest, rollups, rating,
alerts and gauges, orphans); then its memory map must hold no chDB library.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest
from tests.e2e.test_pipeline import wait_until, worker_process

from cloudtally.collectors.simulate import run
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.store import Store

pytestmark = pytest.mark.e2e
LAST_SUCCESS = re.compile(
    r'^cloudtally_analytics_last_success_timestamp_seconds\{task="(\w+)"\} (\S+)$', re.M
)
TASKS = {"rollup", "rating", "billing", "availability"}


def mapped(pid: int, pattern: str) -> list[str]:
    """Files matching ``pattern`` in the process's memory map."""
    with open(f"/proc/{pid}/maps") as f:
        return sorted({line.split()[-1] for line in f if re.search(pattern, line)})


def test_a_cluster_worker_maps_no_chdb(broker, settings, server_store, tmp_path: Path) -> None:
    port = free_port()
    s = settings(rollup_interval_s=1.0, rating_interval_s=2.0, analytics_interval_s=2.0,
                 metrics_port=port)  # fmt: skip
    store: Store = server_store
    log = tmp_path / "worker.log"

    def worked() -> bool:
        """Every sample stored, bill lines rated, and the alerts pass through to its
        last gauges (billing, availability) has succeeded once."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return False
        done = {m.group(1) for m in LAST_SUCCESS.finditer(text) if float(m.group(2)) > 0}
        samples = store.scalar("SELECT count() FROM samples FINAL")
        lines = store.scalar("SELECT count() FROM bill_lines")
        return samples == report.good_samples and bool(lines) and done >= TASKS

    with worker_process(s, log, with_api=False) as proc:
        report = run(s, seed=5, vms=40, pools=2, bureaus=4, start="2026-03-02T00:00:00+08:00",
                     end="2026-03-03T00:00:00+08:00", interval=300)  # fmt: skip
        wait_until(worked, "ingest, rating and every timer", proc, log, timeout=240)
        time.sleep(3)  # one more tick of every timer
        assert proc.poll() is None, log.read_text()[-3000:]
        assert mapped(proc.pid, r"clickhouse_driver|\.so") and not mapped(proc.pid, r"chdb"), (
            mapped(proc.pid, r"chdb")
        )
