"""ZooKeeper killed under the replicas (as the OOM killer would): no write is taken while
it is gone, the cluster says what died, and after its restart every write lands once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from cloudtally.store import StoreError
from tests.replicated.conftest import on_replica
from tests.replicated.test_replicated_store import batch

pytestmark = [pytest.mark.server, pytest.mark.replicated]


def test_writes_wait_out_a_dead_zookeeper_and_land_once(
    replicated_cluster, replicated_store
) -> None:
    db = replicated_store.database
    replicated_store.insert("samples", batch(0, 1_000), {"source": "s", "version": 1})

    zk = replicated_cluster.zookeeper
    os.kill(zk.proc.pid, signal.SIGKILL)
    zk.proc.wait()
    # Nothing may be acknowledged while the replicas cannot commit to ZooKeeper.
    with pytest.raises(StoreError):
        replicated_store.insert("samples", batch(1_000, 1_000), {"source": "s", "version": 1})

    reports = replicated_cluster.revive()
    assert len(reports) == 1, reports
    assert reports[0].startswith(f"ZooKeeper (port {zk.port}) had exited with code -9")

    # The replicas reconnect on their own; the worker's retry is this loop.
    deadline, last = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        try:
            replicated_store.insert("samples", batch(1_000, 1_000), {"source": "s", "version": 1})
            break
        except StoreError as exc:
            last = exc
            time.sleep(1)
    else:
        pytest.fail(f"no write landed within 90 s of ZooKeeper's restart: {last}")
    assert replicated_cluster.revive() == []  # everything runs again

    replicated_cluster.wait_in_sync(db, timeout_s=120)
    for i in range(len(replicated_cluster.servers)):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM samples") == 2_000
            assert one.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == 2_000
