"""Which tables changed, from the store's own list of data parts: one metadata query a
second for every table, shared by every request of the process.

ClickHouse stores a table as immutable *parts*: every insert adds one, a mutation
(``ALTER ... UPDATE/DELETE``) replaces the parts it rewrote with new names, a merge
replaces several with one, a dropped partition removes its parts. So the names of a
table's active parts (``system.parts``) change whenever its rows can have changed, on
chDB 26.x and on the 18.16 server alike, whoever wrote them. :func:`signature` is a
digest of those names for one table (optionally only the month partitions a period
touches); :mod:`cloudtally.queries.memo` re-reads a stamp only when the signature of
its table moved, so a request whose data did not change costs no store query.

The list is read at most once per :data:`REFRESH_S` for all tables together, and at
once after this process wrote to the table asked about (the store counts its own
writes, :meth:`Store.note_write`): the process's own writes are seen immediately,
other processes' (cluster-mode workers, a mutation ClickHouse applied later) within
:data:`REFRESH_S` plus the time of one metadata query (answers served before FastAPI:
up to :data:`STALE_S` while the store is too busy to answer it). While one thread re-reads an
aged list, the others keep using the previous one instead of queueing behind it (on
chDB a query may wait behind an insert).

A merge changes the names without changing the rows: the stamp is re-read once and
comes out the same, so answers and ETags stay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass, field

from cloudtally.store.base import Store

REFRESH_S = 1.0
# The answers served before FastAPI (api/fastpath.py) use a list read in the background
# while the store is slow to answer it (a chDB query waits behind an insert), up to this.
STALE_S = 5.0

_SQL = (
    "SELECT table, partition_id, groupArray(name), sum(rows) FROM system.parts "
    "WHERE database = %(db)s AND active GROUP BY table, partition_id"
)


@dataclass(frozen=True)
class Snapshot:
    """The active parts of every table of one database, as read at ``at``."""

    parts: dict[str, dict[str, str]]  # table → partition id → digest of its part names
    marks: dict[str, int]  # the store's own write counts just before the read
    at: float
    reads: int = field(default=0)  # how many times this process read the list so far

    def fresh_for(self, store: Store, table: str) -> bool:
        """No write to ``table`` (or to an unnamed table) through ``store`` since the read."""
        return store.write_mark(table) == (self.marks.get(table, 0), self.marks.get("*", 0))


def _read(store: Store, reads: int) -> Snapshot:
    marks = dict(store.__dict__.get("_write_marks", {}))  # before the query: see memo.stamp
    at = time.monotonic()
    parts: dict[str, dict[str, str]] = {}
    for table, partition, names, rows in store.rows(_SQL, {"db": store.database}):
        text = "\n".join(sorted(names)) + f"\n{rows}"
        digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
        parts.setdefault(table, {})[partition] = digest
    return Snapshot(parts, marks, at, reads + 1)


def snapshot(store: Store, table: str) -> Snapshot:
    """The part list, read again if ``table`` was written here or the list is old."""
    state = store.__dict__
    lock: threading.Lock = state.setdefault("_parts_lock", threading.Lock())
    now: Snapshot | None = state.get("_parts_snapshot")
    if now is not None and now.fresh_for(store, table):
        age = time.monotonic() - now.at
        if age < REFRESH_S:
            return now
        if not lock.acquire(blocking=False):  # another thread is reading it again
            if age < STALE_S:
                return now  # meanwhile the last list
            with lock:  # too old to use: wait for that read
                return state.get("_parts_snapshot") or now
        try:
            state["_parts_snapshot"] = now = _read(store, now.reads)
        finally:
            lock.release()
        return now
    with lock:  # our own write (or no list yet): wait for a list that includes it
        again: Snapshot | None = state.get("_parts_snapshot")
        if again is not None and again.fresh_for(store, table):
            return again  # another thread read it after the write meanwhile
        state["_parts_snapshot"] = fresh = _read(store, again.reads if again else 0)
        return fresh


def current_if_read(store: Store, table: str) -> Snapshot | None:
    """The part list if it can be used without waiting for a query (nothing written to
    ``table`` here since, and young), else None: for checks on the event loop. An aged
    list is read again in the background and used meanwhile up to :data:`STALE_S`."""
    now: Snapshot | None = store.__dict__.get("_parts_snapshot")
    if now is None or not now.fresh_for(store, table):
        return None
    age = time.monotonic() - now.at
    if age < REFRESH_S:
        return now
    _refresh_soon(store)
    return now if age < STALE_S else None


def _refresh_soon(store: Store) -> None:
    """Read the part list again in a thread, unless a read is under way already."""
    state = store.__dict__
    lock: threading.Lock = state.setdefault("_parts_lock", threading.Lock())
    if not lock.acquire(blocking=False):
        return

    def read() -> None:
        try:
            old: Snapshot | None = state.get("_parts_snapshot")
            state["_parts_snapshot"] = _read(store, old.reads if old else 0)
        except Exception:  # the next request's own read reports it
            pass
        finally:
            lock.release()

    threading.Thread(target=read, name="parts-refresh", daemon=True).start()


def _month_id(day: dt.date) -> int:
    return day.year * 100 + day.month


def signature(
    store: Store, table: str, period: tuple[dt.date, dt.date] | None = None
) -> tuple[tuple[str, str], ...]:
    """The digests of ``table``'s partitions: all of them, or with ``period`` = [d0, d1)
    only the monthly partitions (``toYYYYMM``) it overlaps and any partition that is not
    a month (an unpartitioned table's ``all``). Changes whenever those rows may have."""
    return _pick(snapshot(store, table), table, period)


def signature_if_read(
    store: Store, table: str, period: tuple[dt.date, dt.date] | None = None
) -> tuple[tuple[str, str], ...] | None:
    """:func:`signature` if it needs no store query now, else None."""
    now = current_if_read(store, table)
    return None if now is None else _pick(now, table, period)


def _pick(
    now: Snapshot, table: str, period: tuple[dt.date, dt.date] | None
) -> tuple[tuple[str, str], ...]:
    found = now.parts.get(table, {})
    if period is not None:
        lo, hi = _month_id(period[0]), _month_id(period[1] - dt.timedelta(days=1))
        found = {
            p: d
            for p, d in found.items()
            if not (len(p) == 6 and p.isdigit()) or lo <= int(p) <= hi
        }
    return tuple(sorted(found.items()))
