"""Pipeline health read models: dead letters and consumer progress."""

from __future__ import annotations

from typing import Any

from cloudtally.store import Store


def dead_letters(
    store: Store, *, topic: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    where = "WHERE topic = %(topic)s" if topic else ""
    params = {"topic": topic, "limit": limit, "offset": offset}
    total = store.scalar(f"SELECT count() FROM dead_letters FINAL {where}", params)
    rows = store.dicts(
        f"""
        SELECT received_at, topic, partition, offset, message_sha256, message_bytes,
               row_index, section, reason, payload, payload_encoding, payload_bytes
        FROM dead_letters FINAL {where}
        ORDER BY topic, partition, offset, message_sha256, section, row_index
        LIMIT %(limit)s OFFSET %(offset)s
        """,
        params,
    )
    return int(total or 0), rows


def consumer_progress(store: Store) -> list[dict[str, Any]]:
    return store.dicts(
        """
        SELECT topic, partition, max(last_offset) AS last_offset, sum(messages) AS messages,
               sum(rows_written) AS rows_written, sum(rows_rejected) AS rows_rejected,
               max(flushed_at) AS last_flush
        FROM ingest_log
        GROUP BY topic, partition
        ORDER BY topic, partition
        """
    )
