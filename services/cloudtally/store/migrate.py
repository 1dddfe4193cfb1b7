"""Ordered SQL migrations (snuba-style): ``NNNN_name.sql`` files applied once, in order.

Each applied file is recorded in ``schema_migrations`` with its checksum; a
changed file that was already applied is an error, never silently re-run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from cloudtally.store.base import Store, split_statements

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
    """Apply every pending migration; return the ones applied now."""
    done = applied(store)
    ran = []
    for m in available():
        if m.version in done:
            if done[m.version] != m.checksum:
                raise MigrationError(
                    f"migration {m.version:04d}_{m.name} changed after it was applied; "
                    "add a new migration instead"
                )
            continue
        for statement in split_statements(m.sql):
            store.execute(statement)
        store.insert(
            "schema_migrations",
            {
                "version": [m.version],
                "name": [m.name],
                "checksum": [m.checksum],
                "applied_at": [_now()],
            },
        )
        ran.append(m)
    return ran


def _now() -> int:
    import time

    return int(time.time())
