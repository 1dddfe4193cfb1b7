"""The store on two 18.16 replicas coordinated by ZooKeeper: schema, exact inserts, failover.

Each replica is also opened on its own (``on_replica``) to check what it holds,
not what the failover store happens to read.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import cloudtally.store.migrate as migrate_module
from cloudtally import metrics
from cloudtally.invoices.store import discard_import
from cloudtally.store import Store, StoreError
from cloudtally.store.migrate import Migration, available, migrate
from tests.replicated.conftest import on_replica

pytestmark = [pytest.mark.server, pytest.mark.replicated]
T0 = 1_772_380_800  # 2026-03-01 16:00 UTC


def batch(first: int, n: int, vms: int = 50) -> dict[str, np.ndarray]:
    """Samples number first .. first+n-1: distinct (vm_id, ts) keys, deterministic values."""
    i = np.arange(first, first + n)
    return {
        "vm_id": np.array([f"vm-{k % vms:03d}" for k in i], dtype=object),
        "ts": T0 + (i // vms) * 60,
        "cpu_pct": (i % 97).astype(np.float32),
        "mem_pct": (i % 89).astype(np.float32),
    }


def each(cluster: Any, db: str, sql: str) -> list[Any]:
    out = []
    for i in range(len(cluster.servers)):
        with on_replica(cluster, i, db) as one:
            out.append(one.scalar(sql))
    return out


def test_schema_is_replicated_on_both_and_each_keeps_its_own_ledger(
    replicated_cluster, shared_replicated_store
) -> None:
    db = shared_replicated_store.database
    replicated_cluster.wait_in_sync(db)  # a new replica activates in the background
    engines = []
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            rows = dict(one.rows(f"SELECT name, engine FROM system.tables WHERE database = '{db}'"))
            engines.append(rows)
            assert one.rows("SELECT version FROM schema_migrations ORDER BY version") == [
                (m.version,) for m in available()
            ]
    assert engines[0] == engines[1]
    assert engines[0].pop("schema_migrations") == "MergeTree"  # per replica, by design
    assert all(e.startswith("Replicated") for e in engines[0].values()), engines[0]
    # Both replicas of each table are registered with ZooKeeper and active.
    assert each(replicated_cluster, db, "SELECT min(active_replicas) FROM system.replicas") == [
        2,
        2,
    ]
    assert migrate(shared_replicated_store) == []  # nothing pending anywhere


def test_a_block_sent_again_to_either_replica_is_stored_once(
    replicated_cluster, shared_replicated_store
) -> None:
    db = shared_replicated_store.database
    cols = batch(0, 5_000)
    with on_replica(replicated_cluster, 0, db) as r1, on_replica(replicated_cluster, 1, db) as r2:
        r1.insert("samples", cols, {"source": "sim", "version": 7})
        r1.insert("samples", cols, {"source": "sim", "version": 7})  # a retry: same block
        r2.insert("samples", cols, {"source": "sim", "version": 7})  # a retry elsewhere
        r2.insert("samples", batch(5_000, 1_000), {"source": "sim", "version": 7})
    replicated_cluster.wait_in_sync(db)
    # Raw rows, no FINAL: deduplication happened at insert, not by merging later.
    assert each(replicated_cluster, db, "SELECT count() FROM samples") == [6_000, 6_000]
    # A redelivered batch the worker re-encodes (new version) is a new block: stored,
    # and collapsed by the table's key as on a single server.
    shared_replicated_store.insert("samples", cols, {"source": "sim", "version": 8})
    replicated_cluster.wait_in_sync(db)
    assert each(replicated_cluster, db, "SELECT count() FROM samples FINAL") == [6_000, 6_000]
    assert each(replicated_cluster, db, "SELECT max(version) FROM samples FINAL") == [8, 8]


def test_a_mutation_issued_once_runs_on_every_replica(
    replicated_cluster, shared_replicated_store
) -> None:
    db = shared_replicated_store.database
    for imp in ("imp-keep", "imp-failed"):
        shared_replicated_store.execute(
            "INSERT INTO invoice_lines (invoice_id, import_id, line_no, period_start, "
            "period_end, quantity, amount) SELECT 'inv-1', %(imp)s, toUInt32(number), "
            "toDateTime(0, 'UTC'), toDateTime(0, 'UTC'), toDecimal64(1, 6), toDecimal64(2, 2) "
            "FROM numbers(300)",
            {"imp": imp},
        )
    discard_import(
        shared_replicated_store, "imp-failed"
    )  # ALTER ... DELETE, waits for its mutation
    replicated_cluster.wait_in_sync(db)
    assert each(replicated_cluster, db, "SELECT groupUniqArray(import_id) FROM invoice_lines") == [
        ["imp-keep"],
        ["imp-keep"],
    ]
    assert each(replicated_cluster, db, "SELECT count() FROM invoice_lines") == [300, 300]


def test_killed_replica_reads_and_writes_fail_over_and_it_catches_up_exactly(
    replicated_cluster, replicated_store
) -> None:
    """kill -9 the replica the store uses while a writer thread inserts and a reader
    thread queries; bring it back; both replicas end with every row once."""
    db = replicated_store.database
    failovers_before = sum(
        s.value
        for m in metrics.STORE_FAILOVERS.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert replicated_store.host.endswith(str(replicated_cluster.servers[0].tcp_port))
    n_batches, size = 60, 2_000
    written, errors, reads = [], [], []
    stop = threading.Event()

    def writer() -> None:
        for b in range(n_batches):
            try:
                replicated_store.insert(
                    "samples", batch(b * size, size), {"source": "s", "version": 1}
                )
                written.append(b)
            except StoreError as exc:  # the worker would retry: count it as a failure here
                errors.append(exc)
            time.sleep(0.02)

    def reader() -> None:
        while not stop.is_set():
            try:
                reads.append(replicated_store.scalar("SELECT count() FROM samples"))
            except StoreError as exc:
                errors.append(exc)
            time.sleep(0.01)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    while len(written) < 10:
        time.sleep(0.01)
    replicated_cluster.kill(0)
    killed_at = len(written)
    threads[0].join(timeout=120)
    replicated_cluster.restart(0)
    time.sleep(1)
    stop.set()
    threads[1].join(timeout=30)
    assert not errors, errors[:3]
    assert len(written) == n_batches and killed_at < n_batches
    assert replicated_store.host.endswith(str(replicated_cluster.servers[1].tcp_port))
    assert reads and max(reads) <= n_batches * size
    failovers = sum(
        s.value
        for m in metrics.STORE_FAILOVERS.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert failovers > failovers_before
    # The restarted replica waits for ZooKeeper to expire its old session, then fetches.
    replicated_cluster.wait_in_sync(db, timeout_s=120)
    expected = n_batches * size
    assert each(replicated_cluster, db, "SELECT count() FROM samples") == [expected, expected]
    assert each(replicated_cluster, db, "SELECT uniqExact(vm_id, ts) FROM samples") == [
        expected,
        expected,
    ]


def test_migrations_reach_a_replica_that_was_down_and_a_replaced_one_resyncs(
    replicated_cluster, replicated_store, monkeypatch
) -> None:
    db = replicated_store.database
    replicated_store.insert("samples", batch(0, 3_000), {"source": "s", "version": 1})
    # A later migration with an ALTER (ClickHouse replicates it) while replica 2 is down.
    extra = Migration(9_999, "note", "ALTER TABLE samples ADD COLUMN note String DEFAULT 'n'")
    monkeypatch.setattr(migrate_module, "available", lambda: [*available(), extra])
    replicated_cluster.kill(1)
    assert [m.version for m in migrate(replicated_store)] == [9_999]  # replica 1 only
    replicated_cluster.restart(1)
    replicated_cluster.wait_in_sync(db, timeout_s=120)
    assert [m.version for m in migrate(replicated_store)] == [9_999]  # recorded on replica 2,
    # its ALTER skipped: ZooKeeper had already brought the column there.
    assert each(
        replicated_cluster, db, "SELECT count() FROM schema_migrations WHERE version = 9999"
    ) == [1, 1]
    assert each(replicated_cluster, db, "SELECT count() FROM system.columns WHERE database = "
                f"'{db}' AND table = 'samples' AND name = 'note'") == [1, 1]  # fmt: skip

    # Replica 2 loses its disk: an empty server where it was. `migrate` gives it the
    # schema of its peer (with the column) and the tables fetch the data.
    with on_replica(replicated_cluster, 1, db) as r2:
        r2.execute(f"DROP DATABASE {db}")
    store: Store = replicated_store
    assert migrate(store) == []  # copied, not re-run
    replicated_cluster.wait_in_sync(db, timeout_s=120)
    assert each(replicated_cluster, db, "SELECT count() FROM samples") == [3_000, 3_000]
    assert (
        each(replicated_cluster, db, "SELECT count() FROM schema_migrations")
        == [len(available()) + 1] * 2
    )
    assert each(replicated_cluster, db, "SELECT count() FROM samples WHERE note = 'n'") == [
        3_000,
        3_000,
    ]


def test_a_migration_that_rebuilds_a_table_runs_on_both_replicas(
    replicated_cluster, replicated_store, monkeypatch
) -> None:
    """The pattern of a key change (like dead_letters' in 0010): rename the table away,
    create it anew, copy the rows, drop the old one."""
    db = replicated_store.database
    replicated_store.insert(
        "rollup_queue", {"vm_id": ["a", "b"], "hour": [T0, T0 + 3600], "version": [1, 2]}
    )
    rebuild = Migration(
        9_998,
        "rebuild",
        "RENAME TABLE rollup_queue TO rollup_queue_old;\n"
        "CREATE TABLE rollup_queue (vm_id String, hour DateTime('UTC'), version UInt64, "
        "note String DEFAULT 'x') ENGINE = MergeTree ORDER BY (version, vm_id, hour);\n"
        "INSERT INTO rollup_queue (vm_id, hour, version) SELECT vm_id, hour, version "
        "FROM rollup_queue_old;\n"
        "DROP TABLE rollup_queue_old;\n",
    )
    monkeypatch.setattr(migrate_module, "available", lambda: [*available(), rebuild])
    assert [m.version for m in migrate(replicated_store)] == [9_998]
    replicated_cluster.wait_in_sync(db)
    # Copied once (the INSERT runs on one replica and is replicated), on both replicas.
    assert each(replicated_cluster, db, "SELECT count() FROM rollup_queue") == [2, 2]
    assert each(replicated_cluster, db, "SELECT count() FROM system.tables WHERE database = "
                f"'{db}' AND name = 'rollup_queue_old'") == [0, 0]  # fmt: skip
    path = f"/clickhouse/tables/01/{db}/rollup_queue-m9998"  # a path of its own
    sql = f"SELECT zookeeper_path FROM system.replicas WHERE database = '{db}' AND table = "
    assert each(replicated_cluster, db, sql + "'rollup_queue'") == [path, path]
