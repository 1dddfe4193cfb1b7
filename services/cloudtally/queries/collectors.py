"""Collector read models: heartbeats, watermarks and the VM ids inventory knows.

One place for the SQL the collectors (restart), the API (health) and, later,
availability (issue #16: "was the collector listening at time t?") ask.
"""

from __future__ import annotations

from typing import Any

from cloudtally.store import Store


def latest_beats(store: Store, source: str) -> dict[int, int]:
    """Greatest stored ``data_until`` per samples partition of ``source`` (epoch s)."""
    rows = store.rows(
        """
        SELECT partition, toUnixTimestamp(max(data_until))
        FROM collector_heartbeats
        WHERE source = %(source)s
        GROUP BY partition
        """,
        {"source": source},
    )
    return {int(p): int(t) for p, t in rows}


def known_vm_ids(store: Store) -> set[str]:
    """Every VM id inventory has ever recorded (history too: a backfill meets old VMs)."""
    return {r[0] for r in store.rows("SELECT DISTINCT vm_id FROM vm_inventory")}


def sources(store: Store) -> list[dict[str, Any]]:
    """One row per source: last beat, least and greatest data_until over partitions."""
    return store.dicts(
        """
        SELECT source, count() AS partitions, min(until) AS watermark,
               max(until) AS data_until_max, max(last_beat) AS last_beat,
               sum(beats) AS beats, sum(sent) AS samples, sum(unknown) AS unknown_series,
               sum(errs) AS errors
        FROM (
            SELECT source, partition, max(data_until) AS until, max(sent_at) AS last_beat,
                   count() AS beats, sum(samples) AS sent, sum(unknown_series) AS unknown,
                   sum(errors) AS errs
            FROM collector_heartbeats FINAL
            GROUP BY source, partition
        )
        GROUP BY source
        ORDER BY source
        """
    )


def heartbeats(store: Store, source: str, start: int, end: int) -> list[dict[str, Any]]:
    """Beats of ``source`` sent in [start, end): when the collector was listening."""
    return store.dicts(
        """
        SELECT sent_at, partition, data_from, data_until, samples, vms, unknown_series, errors
        FROM collector_heartbeats FINAL
        WHERE source = %(source)s
          AND sent_at >= toDateTime(%(start)s, 'UTC') AND sent_at < toDateTime(%(end)s, 'UTC')
        ORDER BY sent_at, partition
        """,
        {"source": source, "start": start, "end": end},
    )
