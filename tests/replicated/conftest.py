"""A replicated ClickHouse for these tests: ZooKeeper + two 18.16 servers, once per session.

- ``replicated_cluster``  the running ``ReplicatedCluster`` (``.url(db)``, ``.replica_url(i, db)``,
  ``.kill(i)``, ``.restart(i)``, ``.wait_in_sync(db)``).
- ``replicated_store``    an open, migrated store on a fresh database ``r_<hex>`` naming
  both replicas (reads and writes fail over). The databases are not dropped: a
  replicated DROP on a loaded machine took up to 100 s, and the whole cluster is
  thrown away at the end of the session.

A test that kills a replica restarts it before it ends, so the next test starts
from two replicas in sync. Before and after each store the cluster is revived:
whatever died (a replica a failed test left down, a ZooKeeper or server that
exited under the machine) is started again, and a death is reported as a
warning with its exit code and log tail, so one death cannot fail every later
test with a connection error that hides its cause.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
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


class ClusterProcessDied(UserWarning):
    """A process of the session's replicated cluster had died and was started again."""


def _revive(replicated_cluster: Any) -> None:
    for report in replicated_cluster.revive():
        warnings.warn(report, ClusterProcessDied, stacklevel=2)


@contextlib.contextmanager
def _fresh_replicated(replicated_cluster: Any, database: str) -> Iterator[Store]:
    _revive(replicated_cluster)
    store = open_store(replicated_cluster.url(database), database)
    try:
        migrate(store)
        yield store
    finally:
        store.close()
        _revive(replicated_cluster)  # a test left a replica down: bring it back


def on_replica(cluster: Any, i: int, database: str) -> Store:
    """A store on replica ``i`` only (no failover), to see what that replica holds."""
    return open_store(cluster.replica_url(i, database), database)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing replicated test carries ZooKeeper's own account: a connection error
    from a server says little of why ZooKeeper would not serve it."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("replicated_cluster")
    if report.failed and cluster is not None:
        from cloudtally.devtools.clickhouse_server import _tail
        from cloudtally.devtools.replicated import four_letter

        zk = cluster.zookeeper
        state = "not started" if zk.proc is None else f"exit code {zk.proc.poll()}"
        report.sections.append(
            (
                "ZooKeeper",
                f"port {zk.port}, process {state}\nsrvr: {four_letter(zk.port, 'srvr')}\n"
                f"cons: {four_letter(zk.port, 'cons')}\nlog:\n{_tail(zk.log_path, 60)}",
            )
        )
    return report
