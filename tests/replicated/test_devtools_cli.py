"""The documented commands (docs/operations.md, "Try it on one machine"), run as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtally.store import open_store
from cloudtally.store.migrate import available
from tests.replicated.conftest import on_replica

pytestmark = [pytest.mark.server, pytest.mark.replicated]
CLI = [sys.executable, "-m", "cloudtally.devtools.replicated"]


def test_start_and_stop_by_hand(tmp_path: Path, replicated_cluster) -> None:
    # (replicated_cluster is requested for its skip/fail rule when a binary is missing.)
    # One replica keeps it cheap; the cluster class behind it is the fixture's own.
    out = subprocess.run(
        [*CLI, "start", "--dir", str(tmp_path), "--replicas", "1"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    try:
        assert out[0].startswith("clickhouse://127.0.0.1:")
        assert out[0].endswith("/cloudtally?replicated=true")
        replica = out[1].split(": ", 1)[1]
        with open_store(replica) as one:
            assert one.rows("SELECT macro, substitution FROM system.macros ORDER BY macro") == [
                ("replica", "r1"),
                ("shard", "01"),
            ]
    finally:
        stopped = subprocess.run(
            [*CLI, "stop", "--dir", str(tmp_path)], check=True, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert stopped.stdout.startswith("stopped 2 process(es)")


def test_cloudtally_migrate_on_the_replicated_url(replicated_cluster, test_id: str) -> None:
    db = f"cli_{test_id}"
    env = {
        **os.environ,
        "CLOUDTALLY_MODE": "cluster",
        "CLOUDTALLY_STORE_URL": replicated_cluster.url(db),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cloudtally.cli", "--lang", "en", "migrate"],
        env=env, check=True, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert f"applied {len(available())} migration(s)" in done.stdout
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM schema_migrations") == len(available())
            engine = one.scalar(
                f"SELECT engine FROM system.tables WHERE database = '{db}' AND name = 'samples'"
            )
            assert engine == "ReplicatedReplacingMergeTree"
