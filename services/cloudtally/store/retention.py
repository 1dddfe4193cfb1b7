"""Apply the raw-data retention (rule: :mod:`cloudtally.core.retention`) to a store.

Each pass reads the raw tables' monthly partitions from ``system.parts``, asks the
store the facts of each month (issued? rolled up? provisional calendar?), and drops
the months the rule allows with ``ALTER TABLE … DROP PARTITION`` (both engines; a
replicated table drops on every replica). Before a month is dropped it is recorded:
one ``raw_retention_log`` row per table partition (rows, bytes, the rule's inputs) and
one ``raw_retention`` entry in the hash-chained audit ledger naming those rows, so an
auditor sees what raw evidence was removed, when, by whom and under which setting.
A drop that fails is retried by the next pass (the partition is still there).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cloudtally.core.retention import (
    RAW_TABLES,
    Decision,
    MonthFacts,
    add_months,
    decide,
    kept_from,
    local_months,
    partition_month,
    partition_span,
)
from cloudtally.queries.orphans import KNOWN
from cloudtally.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dropped:
    month: str  # YYYY-MM (UTC partition)
    table: str
    rows: int
    bytes: int


def raw_partitions(store: Store) -> dict[dt.date, dict[str, tuple[int, int]]]:
    """UTC month → table → (rows, bytes on disk) of the raw tables' active parts."""
    rows = store.rows(
        "SELECT table, partition, sum(rows), sum(bytes_on_disk) FROM system.parts "
        "WHERE active AND database = %(db)s AND table IN %(t)s GROUP BY table, partition",
        {"db": store.database, "t": RAW_TABLES},
    )
    out: dict[dt.date, dict[str, tuple[int, int]]] = {}
    for table, partition, n, size in rows:
        out.setdefault(partition_month(str(partition).strip("'")), {})[table] = (
            int(n),
            int(size),
        )
    return out


def month_facts(store: Store, month: dt.date, zone: ZoneInfo, rollup_watermark: int) -> MonthFacts:
    from cloudtally.audit.issue import is_issued

    t0, t1 = partition_span(month)
    span = {"h0": t0, "h1": t1, "wm": rollup_watermark}
    overlapped = tuple(local_months(month, zone))
    pending = store.scalar(
        "SELECT count(DISTINCT hour) FROM rollup_queue WHERE version > %(wm)s "
        "AND hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')",
        span,
    )
    provisional = store.scalar(
        "SELECT count() FROM hour_weights FINAL WHERE provisional = 1 "
        "AND hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')",
        span,
    )
    orphans = store.scalar(
        f"SELECT uniqExact(vm_id) FROM samples WHERE ts >= toDateTime(%(h0)s, 'UTC') "
        f"AND ts < toDateTime(%(h1)s, 'UTC') AND vm_id NOT IN ({KNOWN})",
        span,
    )
    return MonthFacts(
        month=month,
        local_months=overlapped,
        unissued=tuple(m for m in overlapped if _metered(store, m) and not is_issued(store, m)),
        pending_hours=int(pending or 0),
        provisional_hours=int(provisional or 0),
        orphan_vms=int(orphans or 0),
    )


def _metered(store: Store, month: dt.date) -> bool:
    """The local month has rolled-up usage (so something to rate and issue)."""
    return bool(
        store.scalar(
            "SELECT count() FROM usage_daily WHERE day >= %(d0)s AND day < %(d1)s",
            {"d0": month, "d1": add_months(month, 1)},
        )
    )


def plan(store: Store, keep_months: int, today: dt.date, zone: ZoneInfo) -> list[Decision]:
    """The rule's decision for every UTC month the raw tables hold, oldest first."""
    from cloudtally.worker.derive import ROLLUP, watermark

    kept = kept_from(today, keep_months)
    wm = watermark(store, ROLLUP)
    return [decide(month_facts(store, m, zone, wm), kept) for m in sorted(raw_partitions(store))]


def apply_retention(
    store: Store,
    keep_months: int,
    *,
    actor: str = "retention",
    today: dt.date | None = None,
    zone: ZoneInfo | None = None,
    dry_run: bool = False,
) -> list[Dropped]:
    """Drop what the rule allows; return what was dropped (or would be, with dry_run)."""
    from cloudtally import metrics
    from cloudtally.audit.ledger import append

    zone = zone or ZoneInfo("Asia/Shanghai")
    today = today or dt.datetime.now(zone).date()
    decisions = plan(store, keep_months, today, zone)
    parts = raw_partitions(store)
    held = [d for d in decisions if not d.drop and d.reason.startswith("held")]
    metrics.RAW_MONTHS_HELD.set(len(held))
    for d in held:
        log.info("raw retention: %s %s", f"{d.month:%Y-%m}", d.reason)
    out: list[Dropped] = []
    for d in (d for d in decisions if d.drop):
        tables = parts.get(d.month, {})
        month_out = [
            Dropped(f"{d.month:%Y-%m}", t, n, size) for t, (n, size) in sorted(tables.items())
        ]
        out.extend(month_out)
        if dry_run or not month_out:
            continue
        drop_id = uuid.uuid4().hex
        now = int(time.time())
        store.insert(
            "raw_retention_log",
            {"drop_id": [drop_id] * len(month_out), "dropped_at": [now] * len(month_out),
             "table_name": [x.table for x in month_out],
             "partition": [f"{d.month:%Y%m}"] * len(month_out),
             "month": [d.month] * len(month_out), "rows": [x.rows for x in month_out],
             "bytes": [x.bytes for x in month_out],
             "keep_months": [keep_months] * len(month_out),
             "kept_from": [kept_from(today, keep_months)] * len(month_out),
             "actor": [actor] * len(month_out), "reason": [d.reason] * len(month_out)},
        )  # fmt: skip
        append(
            store,
            "raw_retention",
            {"drop_id": drop_id, "month": f"{d.month:%Y-%m}", "keep_months": keep_months},
            actor=actor,
            reason=f"raw retention: keep {keep_months} months",
        )
        for x in month_out:
            store.execute(f"ALTER TABLE {x.table} DROP PARTITION {d.month:%Y%m}")
            metrics.RAW_PARTITIONS_DROPPED.labels(x.table).inc()
            metrics.RAW_ROWS_DROPPED.labels(x.table).inc(x.rows)
        log.warning(
            "raw retention: dropped %s (%s)",
            f"{d.month:%Y-%m}",
            ", ".join(f"{x.table} {x.rows:,} rows" for x in month_out),
        )
    return out
