"""The documented commands (docs/operations.md, "Try it on one machine"), run as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtally.store import open_store
from cloudtally.store.migrate import available

pytestmark = [pytest.mark.server, pytest.mark.replicated]


def test_start_migrate_and_stop_a_replicated_store_by_hand(
    tmp_path: Path, replicated_cluster
) -> None:
    # (replicated_cluster is requested for its skip/fail rule when a binary is missing.)
    cli = [sys.executable, "-m", "cloudtally.devtools.replicated"]
    out = subprocess.run(
        [*cli, "start", "--dir", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.splitlines()
    try:
        url = out[0]
        assert url.startswith("clickhouse://127.0.0.1:") and url.endswith(
            "/cloudtally?replicated=true"
        )
        env = {**os.environ, "CLOUDTALLY_MODE": "cluster", "CLOUDTALLY_STORE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "cloudtally.cli", "migrate"],
            env=env, check=True, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert f"applied {len(available())} migration(s)" in done.stdout
        replicas = [line.split(": ", 1)[1] for line in out if "replica r" in line]
        assert len(replicas) == 2
        for one_url in replicas:
            with open_store(one_url) as one:
                assert one.scalar("SELECT count() FROM schema_migrations") == len(available())
                engine = one.scalar(
                    "SELECT engine FROM system.tables WHERE database = 'cloudtally' "
                    "AND name = 'samples'"
                )
                assert engine == "ReplicatedReplacingMergeTree"
    finally:
        stopped = subprocess.run(
            [*cli, "stop", "--dir", str(tmp_path)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert stopped.stdout.startswith("stopped 3 process(es)")
