"""A replicated ClickHouse for these tests: ZooKeeper + two 18.16 servers, once per session.

- ``replicated_cluster``  the running ``ReplicatedCluster`` (``.url(db)``, ``.replica_url(i, db)``,
  ``.kill(i)``, ``.restart(i)``, ``.wait_in_sync(db)``).
- ``replicated_store``    an open, migrated store on a fresh database ``r_<hex>`` naming
  both replicas (reads and writes fail over). The databases are not dropped: a
  replicated DROP on a loaded machine took up to 100 s, and the whole cluster is
  thrown away at the end of the session.

A test that kills a replica restarts it before it ends (the ``healthy`` check
after each test fails loudly if it did not), so the next test starts from two
replicas in sync.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate
from tests.conftest import unavailable


@pytest.fixture(scope="session")
def replicated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cloudtally.devtools.clickhouse_server import server_binary
    from cloudtally.devtools.replicated import ReplicatedCluster, zookeeper_available

    if server_binary() is None:
        unavailable("ClickHouse server binary missing (Debian clickhouse-server)")
    if not zookeeper_available():
        unavailable("ZooKeeper missing: run deploy/local/install-system-deps.sh (Debian zookeeper)")
    with ReplicatedCluster(tmp_path_factory.mktemp("replicated")) as cluster:
        yield cluster


@pytest.fixture
def replicated_store(replicated_cluster: Any, test_id: str) -> Iterator[Store]:
    with _fresh_replicated(replicated_cluster, f"r_{test_id}") as store:
        yield store


@pytest.fixture(scope="module")
def shared_replicated_store(replicated_cluster: Any) -> Iterator[Store]:
    """One migrated database for the tests of a module that write disjoint tables."""
    with _fresh_replicated(replicated_cluster, f"r_{uuid.uuid4().hex[:12]}") as store:
        yield store


@contextlib.contextmanager
def _fresh_replicated(replicated_cluster: Any, database: str) -> Iterator[Store]:
    store = open_store(replicated_cluster.url(database), database)
    try:
        migrate(store)
        yield store
    finally:
        store.close()
        for server in replicated_cluster.servers:
            if server.proc is None:  # a test left a replica down: bring it back
                server.start()


def on_replica(cluster: Any, i: int, database: str) -> Store:
    """A store on replica ``i`` only (no failover), to see what that replica holds."""
    return open_store(cluster.replica_url(i, database), database)
