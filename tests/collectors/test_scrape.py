"""``collect scrape``: real node_exporter text through prometheus_client's parser.

The rate rules are checked on exposition text a real exporter would send after
a reboot (counters back near zero) and on the very first scrape; the live test
scrapes the real node_exporter and compares with what Prometheus, scraping the
same exporter, answers for the same instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudtally.collectors.scrape import (
    CpuState,
    ScrapeConfig,
    mem_pct,
    parse_node_text,
    run,
)
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.collectors.realparts import Drain, node_fixture, promql, wait_for
from tests.collectors.test_prometheus_live import add_inventory, wait_for_scrapes


def node_text(idle: float, user: float, iowait: float = 0.0, cpus: int = 2) -> str:
    lines = [
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
        "# TYPE node_cpu_seconds_total counter",
    ]
    for c in range(cpus):
        for mode, v in (("idle", idle), ("iowait", iowait), ("user", user), ("system", 1.5)):
            lines.append(f'node_cpu_seconds_total{{cpu="{c}",mode="{mode}"}} {v}')
    lines += [
        "# TYPE node_memory_MemTotal_bytes gauge",
        "node_memory_MemTotal_bytes 8.253243392e+09",
        "# TYPE node_memory_MemAvailable_bytes gauge",
        "node_memory_MemAvailable_bytes 2.063310848e+09",
        "# TYPE node_filesystem_size_bytes gauge",
        'node_filesystem_size_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 1.0e+11',
        'node_filesystem_size_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/srv/x"} 1.0e+11',
        'node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1.0e+09',
        "# TYPE node_filesystem_free_bytes gauge",
        'node_filesystem_free_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 2.5e+10',
        'node_filesystem_free_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/srv/x"} 2.5e+10',
        'node_filesystem_free_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1.0e+09',
    ]
    return "\n".join(lines) + "\n"


def test_first_scrape_is_a_baseline_and_a_reboot_resets_it() -> None:
    state = CpuState()
    first = parse_node_text(node_text(idle=1000, user=100))
    assert state.cpu_pct("vm", first) == (None, "first_scrape")
    # 60 s later on 2 CPUs: 30 s idle + 10 s iowait of 120 s... as counters per CPU
    second = parse_node_text(node_text(idle=1030, user=120, iowait=10))
    cpu, why = state.cpu_pct("vm", second)
    # per CPU: idle +30, iowait +10, user +20, system +0 -> busy 20 of 60
    assert why is None and cpu == pytest.approx(100 * 20 / 60)
    rebooted = parse_node_text(node_text(idle=5, user=1))
    assert state.cpu_pct("vm", rebooted) == (None, "counter_reset")
    after = parse_node_text(node_text(idle=35, user=31))
    cpu, why = state.cpu_pct("vm", after)
    assert why is None and cpu == pytest.approx(50.0)
    assert mem_pct(after) == pytest.approx(75.0, abs=0.01)
    # one filesystem per device (the bind mount dropped), tmpfs skipped
    assert list(after.filesystems) == ["/"] and after.cpus == 2


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    yield from node_fixture(tmp_path_factory.mktemp("scrape"))


def test_scraping_real_node_exporter_agrees_with_prometheus(
    live: tuple[int, str],
    chdb_store: Store,
    broker: str,
    settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    port, server = live
    wait_for_scrapes(server, seconds=3)  # Prometheus has the exporter before our first scrape
    add_inventory(chdb_store, ["this-host"], 1_700_000_000)
    cfg = ScrapeConfig.model_validate(
        {
            "source": "t",
            "interval": 1,
            "targets": [
                {"url": f"http://127.0.0.1:{port}/metrics", "vm_id": "this-host"},
                {"url": f"http://127.0.0.1:{port}/metrics", "vm_id": "not-in-inventory"},
            ],
        }
    )
    s = settings()
    stats = run(s, cfg, count=4, view=DirectStoreView(chdb_store))
    assert stats["rounds"] == 4 and stats["errors"]["first_scrape"] == 2, stats
    drain = Drain(s.kafka_bootstrap, s.topic_samples, chdb_store)
    drain.until_idle()
    drain.close()
    rows = chdb_store.rows(
        "SELECT toUnixTimestamp(ts), cpu_pct, mem_pct FROM samples FINAL ORDER BY ts"
    )
    assert len(rows) == 3, rows  # rounds 2-4 of the one known VM
    assert chdb_store.scalar("SELECT count() FROM samples WHERE vm_id = 'not-in-inventory'") == 0
    wait_for(lambda: time.time() > rows[-1][0] + 2, 10, "Prometheus to have scraped past")
    for ts, cpu, mem in rows:
        assert 0.0 <= cpu <= 100.0
        want = list(
            promql(
                server,
                "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
                ts,
            ).values()
        )
        # Prometheus scraped the same exporter within a second of us.
        assert abs(mem - want[0]) < 1.0, (ts, mem, want)
    fs = chdb_store.rows("SELECT disk_id, used_gb FROM disk_samples FINAL WHERE disk_id = '/'")
    assert fs, "no root filesystem sample"
    beats = chdb_store.scalar("SELECT count() FROM collector_heartbeats WHERE source = 'scrape:t'")
    assert beats == 4 * s.samples_partitions
