"""Results of heavy read queries, kept until the rows they read change.

A read model asks :func:`cached` for a value under a key (the query and its
parameters, scope included) and a *stamp*: a cheap query over exactly the rows the
value depends on (their ``count()`` and ``max(version)``, partition-pruned to the
period). Every derived table is ReplacingMergeTree with a version that grows with
each recomputation, so a recomputed, added or deleted row changes the stamp and
the next request recomputes; an unchanged stamp gives the kept value, the same one
a recomputation would give. Closed days (the candidate windows, a closed month's
bills) change only with late data, so under ingest they are computed once.

The stamp query itself runs only when the table's data parts changed since it last
ran (:mod:`cloudtally.queries.parts`, one metadata query a second shared by the whole
process): a request whose rows did not change costs no store query at all.

Kept values are shared between requests: callers must not mutate them (kept
values here are lists of frozen dataclasses or plain rows that callers copy).
Per process (each API replica keeps its own), bounded (least recently used out).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cloudtally.queries.parts import signature, signature_if_read
from cloudtally.store.base import Store

T = TypeVar("T")


# A stamp is re-read from the store only when its table's data parts changed
# (:mod:`cloudtally.queries.parts`: one shared metadata query a second, at once after
# this process wrote to the table): an answer whose rows did not change costs no query.
_stamps: dict[Hashable, tuple[tuple[int, int], Hashable]] = {}
_stamp_reads: dict[Hashable, threading.Lock] = {}
_stamp_lock = threading.Lock()
stamp_queries = 0  # stamps read from the store by this process (tests, benchmarks)


_tokens = itertools.count(1)


def token(store: Store) -> int:
    """A number no other store object of this process has (``id`` can be reused once an
    object is gone; a store opened again on the same database must not see kept values)."""
    value = store.__dict__.get("_memo_token")
    if value is None:
        value = store.__dict__.setdefault("_memo_token", next(_tokens))
    return int(value)


def stamp(
    store: Store,
    table: str,
    where: str,
    params: dict[str, Any],
    column: str = "version",
    *,
    period: tuple[dt.date, dt.date] | None = None,
) -> tuple[int, int]:
    """(count, max ``column``) of the rows of ``table`` matching ``where``: changes with them.

    ``period`` = [d0, d1) when ``where`` selects rows of those days of a table partitioned
    by month: changes to other months' partitions then do not make it look again."""
    global stamp_queries
    key = (token(store), table, where, column, tuple(sorted(params.items())))
    parts = signature(store, table, period)  # before the query: a change during it shows
    hit = _stamps.get(key)
    if hit is not None and hit[1] == parts:
        _note((store, table, where, params, column, period), hit[0])
        return hit[0]
    with _stamp_lock:
        one = _stamp_reads.setdefault(key, threading.Lock())
    with one:  # one read per stamp: requests arriving together wait for it, not queue
        hit = _stamps.get(key)
        if hit is not None and hit[1] == parts:
            return hit[0]
        sql = f"SELECT count(), max({column}) FROM {table} WHERE {where}"
        row = store.rows(sql, params)[0]
        value = int(row[0]), int(row[1] or 0)
        with _stamp_lock:
            stamp_queries += 1
            if len(_stamps) > 4096:
                _stamps.clear()
                _stamp_reads.clear()
            _stamps[key] = (value, parts)
    _note((store, table, where, params, column, period), value)
    return value


StampCall = tuple[Store, str, str, dict[str, Any], str, "tuple[dt.date, dt.date] | None"]
# The stamps read while a request computed its ETag (cloudtally.api.fastpath records
# them, so the same request can later be checked without entering the route).
_recording: contextvars.ContextVar[list[tuple[StampCall, tuple[int, int]]] | None] = (
    contextvars.ContextVar("stamp_recording", default=None)
)


def _note(call: StampCall, value: tuple[int, int]) -> None:
    seen = _recording.get()
    if seen is not None:
        seen.append((call, value))


def recording() -> list[tuple[StampCall, tuple[int, int]]]:
    """Start noting, in this context, every stamp read from now on; returns the list."""
    seen: list[tuple[StampCall, tuple[int, int]]] = []
    _recording.set(seen)
    return seen


def recorded() -> list[tuple[StampCall, tuple[int, int]]] | None:
    """A copy of the stamps noted so far in this context (None: not recording)."""
    seen = _recording.get()
    return None if seen is None else list(seen)


def stamp_now(call: StampCall) -> tuple[int, int] | None:
    """The stamp ``call`` would give now, if that needs no store query; else None."""
    store, table, where, params, column, period = call
    parts = signature_if_read(store, table, period)
    if parts is None:
        return None
    hit = _stamps.get((token(store), table, where, column, tuple(sorted(params.items()))))
    return hit[0] if hit is not None and hit[1] == parts else None


class Memo:
    """Values by key, each with the stamp it was computed at, least recently used out.

    Bounded by ``size`` entries and, when ``max_bytes`` is set, by the bytes the kept
    values hold (:func:`cloudtally.queries.sizes.approx_bytes`, weighed once when a value
    is kept): a province's per-VM window and a pool's card are not the same size. A value
    bigger than the whole bound is returned but not kept. ``name`` labels the metrics."""

    def __init__(self, size: int, *, max_bytes: int | None = None, name: str = "") -> None:
        self.size, self.max_bytes, self.name = size, max_bytes, name
        self.hits = self.misses = self.evictions = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, tuple[Hashable, Any, int]] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def cached(self, store: Store, key: Hashable, current: Hashable, compute: Callable[[], T]) -> T:
        """The value kept under ``key`` if computed at stamp ``current``, else ``compute()``."""
        full = (token(store), key)
        found, value = self._get(full, current)
        if found:
            return value  # type: ignore[no-any-return]
        with self._lock:
            if len(self._computing) > min(4 * self.size, 4096):
                self._computing.clear()  # a thread holding a dropped lock finishes alone
            one = self._computing.setdefault(full, threading.Lock())
        with one:  # one computation per key: concurrent askers wait for it, not redo it
            found, value = self._get(full, current)
            if found:
                return value  # type: ignore[no-any-return]
            value = compute()  # other keys stay served meanwhile
            self.keep(full, current, value)
        return value

    def keep(self, full: Hashable, current: Hashable, value: Any) -> None:
        from cloudtally import metrics
        from cloudtally.queries.sizes import approx_bytes

        weight = approx_bytes(value) if self.max_bytes is not None else 0
        with self._lock:
            self.misses += 1
            metrics.KEPT_MISSES.labels(self.name).inc()
            old = self._kept.pop(full, None)
            if old is not None:
                self.bytes -= old[2]
            if self.max_bytes is None or weight <= self.max_bytes:
                self._kept[full] = (current, value, weight)
                self.bytes += weight
            dropped = 0
            while self._kept and (
                len(self._kept) > self.size
                or (self.max_bytes is not None and self.bytes > self.max_bytes)
            ):
                _key, (_stamp, _value, w) = self._kept.popitem(last=False)
                self.bytes -= w
                dropped += 1
            self.evictions += dropped
            if dropped:
                metrics.KEPT_EVICTIONS.labels(self.name).inc(dropped)
            metrics.KEPT_BYTES.labels(self.name).set(self.bytes)
            metrics.KEPT_ENTRIES.labels(self.name).set(len(self._kept))

    def peek(self, store: Store, key: Hashable, current: Hashable) -> tuple[bool, Any]:
        """(True, the kept value) if one was computed at stamp ``current``; never computes."""
        return self._get((token(store), key), current)

    def _get(self, full: Hashable, current: Hashable) -> tuple[bool, Any]:
        with self._lock:
            hit = self._kept.get(full)
            if hit is not None and hit[0] == current:
                self._kept.move_to_end(full)
                self.hits += 1
                _hit(self.name)
                return True, hit[1]
        return False, None

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self.bytes = 0


def _hit(name: str) -> None:
    from cloudtally import metrics

    metrics.KEPT_HITS.labels(name).inc()


def configure(settings: Any) -> None:
    """Bound the kept query results, and the kept answers, each by
    ``settings.kept_results_mb`` (the API calls this when it starts)."""
    QUERIES.max_bytes = ANSWERS.max_bytes = int(settings.kept_results_mb) * 2**20


# Query results (a window's per-VM figures: up to ~15,000 rows each, a page's figures):
# bounded by bytes (CLOUDTALLY_KEPT_RESULTS_MB, :func:`configure`; this default until
# then). HTTP answers (bytes): many routes, periods and bureaus.
DEFAULT_MAX_BYTES = 128 * 2**20
QUERIES = Memo(100_000, max_bytes=DEFAULT_MAX_BYTES, name="queries")
ANSWERS = Memo(1024, max_bytes=DEFAULT_MAX_BYTES, name="answers")
cached = QUERIES.cached
