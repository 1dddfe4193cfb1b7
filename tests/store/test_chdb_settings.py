"""chDB's caches come from Settings (CLOUDTALLY_CHDB_*), not chDB's server defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cloudtally.settings import Settings


def test_the_store_url_carries_the_cache_settings(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path, chdb_mark_cache_mb=32).resolved_store_url
    assert url.startswith(f"chdb://{(tmp_path / 'chdb').resolve()}?")
    assert "mark_cache_size=33554432" in url and "primary_index_cache_size=67108864" in url
    assert "max_server_memory_usage" not in url  # 0 = chDB's default
    explicit = "chdb:///x?mark_cache_size=1"
    assert Settings(store_url=explicit).resolved_store_url == explicit
    server = "clickhouse://127.0.0.1:9000/db"
    assert Settings(store_url=server).resolved_store_url == server


def test_chdb_starts_with_them(tmp_path: Path) -> None:
    # chDB allows one data folder per process: look from a child process.
    code = (
        "import json, sys; from cloudtally.settings import Settings; "
        "from cloudtally.store import open_store; "
        "s = Settings(data_dir=sys.argv[1], chdb_max_memory_mb=1500); "
        "st = open_store(s.resolved_store_url, 'cachetest'); "
        'print(json.dumps(dict(st.rows("SELECT name, value FROM system.server_settings WHERE '
        "name IN ('mark_cache_size', 'primary_index_cache_size', 'max_server_memory_usage')\"))))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True, timeout=300)  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"mark_cache_size": str(64 * 2**20),
                   "primary_index_cache_size": str(64 * 2**20),
                   "max_server_memory_usage": str(1500 * 2**20)}  # fmt: skip
