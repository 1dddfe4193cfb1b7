"""ClickHouse access: one interface, two engines, ordered migrations."""

from __future__ import annotations

from cloudtally.store.base import Store, StoreError


def open_store(url: str, database: str = "cloudtally") -> Store:
    """Open the store named by a URL: ``chdb:///folder`` or ``clickhouse://host:port/db``."""
    if url.startswith("chdb://"):
        from pathlib import Path

        from cloudtally.store.busy import check_chdb_owner
        from cloudtally.store.chdb_store import ChdbStore

        # chdb:///folder?mark_cache_size=...: chDB server settings (Settings.chdb_*).
        folder, _, query = url.removeprefix("chdb://").partition("?")
        check_chdb_owner(Path(folder))  # another live process owns it: StoreBusy, one line
        engine = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
        return ChdbStore(folder, database, engine)
    if url.startswith(("clickhouse://", "tcp://")):
        from cloudtally.store.server_store import ServerStore

        return ServerStore(url, database)
    raise ValueError(f"unknown store URL {url!r}: use chdb:///path or clickhouse://host:port/db")


__all__ = ["Store", "StoreError", "open_store"]
