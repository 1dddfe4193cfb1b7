"""Developer tooling the other tests and the load test lean on."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.devtools.chdb_probe import query_folder, scalar_in_folder
from cloudtally.devtools.clickhouse_server import free_port, pid_alive, ping
from cloudtally.store import open_store


def test_query_folder_reads_a_folder_this_process_cannot_open(
    tmp_path: Path, chdb_store: Any
) -> None:
    # This process already holds the session's chDB folder; another folder is written
    # by a separate process (like an end-to-end worker) and read back through the probe.
    folder = tmp_path / "worker-chdb"
    code = (
        "from cloudtally.store import open_store\n"
        "from cloudtally.store.migrate import migrate\n"
        f"s = open_store('chdb://{folder}', database='cloudtally'); migrate(s)\n"
        's.execute("INSERT INTO samples (vm_id, ts, cpu_pct, mem_pct, source, version) '
        "SELECT 'vm-' || toString(number % 7), toDateTime(1700000000 + number * 60, 'UTC'), "
        "1.5, 2.5, 'sim', 1 FROM numbers(1000)\")\n"
        "s.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

    assert scalar_in_folder(folder, "SELECT count() FROM samples FINAL") == 1000
    names, rows = query_folder(
        folder,
        "SELECT vm_id, count(), sum(toDecimal64(cpu_pct, 2)) FROM samples "
        "GROUP BY vm_id ORDER BY vm_id LIMIT 1",
    )
    assert names[0] == "vm_id" and rows == [("vm-0", 143, Decimal("214.50"))]
    assert chdb_store.scalar("SELECT 1") == 1  # our own folder is untouched


def test_clickhouse_server_cli_start_and_stop(tmp_path: Path, clickhouse_server: Any) -> None:
    # (clickhouse_server is requested for its skip/fail rule when the binary is missing.)
    tcp = free_port()
    cli = [sys.executable, "-m", "cloudtally.devtools.clickhouse_server"]
    out = subprocess.run(
        [*cli, "start", "--dir", str(tmp_path), "--tcp-port", str(tcp)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert out.stdout.startswith(f"clickhouse://127.0.0.1:{tcp} ")
        pid, _, http = (int(x) for x in (tmp_path / "server.pid").read_text().split())
        assert ping(http)
        with open_store(f"clickhouse://127.0.0.1:{tcp}/probe") as store:
            assert store.version[:2] == (18, 16)
            # LowCardinality is enabled by the generated users.xml profile.
            store.execute("CREATE TABLE lc (s LowCardinality(String)) ENGINE = Memory")
    finally:
        subprocess.run([*cli, "stop", "--dir", str(tmp_path)], check=True, timeout=60)
    assert not ping(http)
    assert not pid_alive(pid)
    assert not (tmp_path / "server.pid").exists()


def test_settings_factory_points_at_this_tests_store(store: Any, settings: Any) -> None:
    s = settings(samples_partitions=3)
    store.execute("CREATE TABLE marker (x UInt8) ENGINE = MergeTree ORDER BY x")

    # The application opens the store the way the CLI does and sees this test's database.
    with open_store(s.resolved_store_url, s.database) as app_store:
        assert app_store.engine == store.engine
        assert app_store.database == store.database
        assert "marker" in {r[0] for r in app_store.rows("SHOW TABLES")}
    assert s.samples_partitions == 3
    assert s.topic_samples.startswith("samples-") and s.topic_samples != "samples"
    assert s.consumer_group.endswith(s.topic_samples.removeprefix("samples-"))
