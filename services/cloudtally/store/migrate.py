"""Ordered SQL migrations (snuba-style): ``NNNN_name.sql`` files applied once, in order.

Each applied file is recorded in ``schema_migrations`` with its checksum; a
changed file that was already applied is an error, never silently re-run.
In a replicated store every replica has its own ledger (see :func:`migrate`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

from cloudtally.store.base import Store, StoreError, split_statements
from cloudtally.store.replication import LOCAL_TABLES, replicated_write_target

log = logging.getLogger(__name__)

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('UTC')
) ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


class MigrationError(RuntimeError):
    pass


def available() -> list[Migration]:
    folder = resources.files("cloudtally.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {versions}")
    return found


def applied(store: Store) -> dict[int, str]:
    store.execute(LEDGER)
    return recorded(store)


def recorded(store: Store) -> dict[int, str]:
    """Migrations recorded as applied; read-only (empty when the ledger does not exist)."""
    exists = store.scalar(
        "SELECT count() FROM system.tables WHERE database = %(db)s AND name = 'schema_migrations'",
        {"db": store.database},
    )
    if not exists:
        return {}
    return dict(store.rows("SELECT version, checksum FROM schema_migrations"))


def migrate(store: Store) -> list[Migration]:
    """Apply every pending migration on every replica; return the ones applied now.

    Each replica keeps its own ledger (``schema_migrations`` stays a local
    table): ``CREATE TABLE`` runs on each, which makes each a replica of the
    table in ZooKeeper. What ClickHouse replicates by itself (``ALTER TABLE``,
    ``INSERT`` into a replicated table) runs once: on a replica that records a
    migration another replica already applied, those statements are skipped.
    A replica with an empty ledger next to a migrated one (a replaced disk) is
    first given the other's current schema, so it re-syncs from its peers.
    A replica that does not answer is left for the next run, with a warning.
    """
    targets = store.replica_stores()
    reachable = [t for t in targets if isinstance(t, Store)]
    for err in (t for t in targets if isinstance(t, StoreError)):
        log.warning("%s: not migrated; run `cloudtally migrate` again when it is back", err)
    if not reachable:
        raise MigrationError("no replica of the store answers")
    try:
        ledgers = [applied(r) for r in reachable]
        anywhere = set().union(*ledgers)
        ran: dict[int, Migration] = {}
        for i, replica in enumerate(reachable):
            source = next((o for j, o in enumerate(reachable) if j != i and ledgers[j]), None)
            if not ledgers[i] and source is not None and _replicated(replica):
                ledgers[i] = clone_schema(source, replica)
        # Migration by migration across the replicas (not replica by replica): every
        # replica creates a table before any replica alters it, or a replica created
        # later would meet a ZooKeeper structure its CREATE does not match.
        for m in available():
            for i, replica in enumerate(reachable):
                if _apply_one(replica, m, ledgers[i], anywhere):
                    ran[m.version] = m
                    anywhere.add(m.version)
    finally:
        for r in reachable:
            if r is not store:
                r.close()
    return [ran[v] for v in sorted(ran)]


def _apply_one(store: Store, m: Migration, done: dict[int, str], elsewhere: set[int]) -> bool:
    """Apply ``m`` on one replica unless its ledger has it; True when it ran here."""
    if m.version in done:
        if done[m.version] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} changed after it was applied; "
                "add a new migration instead"
            )
        return False
    replicated = _replicated(store)
    for statement in split_statements(m.sql):
        target = replicated_write_target(statement) if replicated else None
        if target and m.version in elsewhere and _is_replicated_table(store, target):
            continue  # another replica ran it; ZooKeeper brings it here
        store.execute_ddl(statement, m.version)
    _record(store, [(m.version, m.name, m.checksum)])
    done[m.version] = m.checksum
    return True


def _record(store: Store, rows: list[tuple[int, str, str]]) -> None:
    store.insert(
        "schema_migrations",
        {
            "version": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "checksum": [r[2] for r in rows],
            "applied_at": [_now()] * len(rows),
        },
    )


def _replicated(store: Store) -> bool:
    return getattr(store, "replication", None) is not None


def _is_replicated_table(store: Store, table: str) -> bool:
    engine = store.scalar(
        "SELECT engine FROM system.tables WHERE database = %(db)s AND name = %(t)s",
        {"db": store.database, "t": table},
    )
    return str(engine or "").startswith("Replicated")


def clone_schema(source: Store, target: Store) -> dict[int, str]:
    """Give ``target`` (an empty replica) the schema and ledger ``source`` has now.

    The replicated tables' statements name the same ZooKeeper paths with the
    ``{replica}`` macro, so each table created here becomes a new replica of
    it and fetches its data from the others. Returns the copied ledger.
    """
    tables = source.rows(
        "SELECT name, engine FROM system.tables WHERE database = %(db)s "
        "AND name NOT LIKE '.inner.%%' AND engine != 'Memory' "
        "ORDER BY engine IN ('View', 'MaterializedView'), name",
        {"db": source.database},
    )
    for name, _engine in tables:
        if name in LOCAL_TABLES:
            continue
        ddl = str(source.scalar(f"SHOW CREATE TABLE {source.database}.{name}"))
        ddl = ddl.replace(f"{source.database}.", f"{target.database}.", 1)
        ddl = ddl.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
        ddl = ddl.replace("CREATE MATERIALIZED VIEW ", "CREATE MATERIALIZED VIEW IF NOT EXISTS ", 1)
        target.execute(ddl)
    rows = source.rows("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    _record(target, [(int(v), str(n), str(c)) for v, n, c in rows])
    log.warning(
        "replica %s had no schema: copied %d tables and %d migrations from a peer",
        getattr(target, "target", "?"),
        len(tables),
        len(rows),
    )
    return {int(v): str(c) for v, _n, c in rows}


def _now() -> int:
    import time

    return int(time.time())
