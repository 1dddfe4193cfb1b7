"""Results of heavy read queries, kept until the rows they read change.

A read model asks :func:`cached` for a value under a key (the query and its
parameters, scope included) and a *stamp*: a cheap query over exactly the rows the
value depends on (their ``count()`` and ``max(version)``, partition-pruned to the
period). Every derived table is ReplacingMergeTree with a version that grows with
each recomputation, so a recomputed, added or deleted row changes the stamp and
the next request recomputes; an unchanged stamp gives the kept value, the same one
a recomputation would give. Closed days (the candidate windows, a closed month's
bills) change only with late data, so under ingest they are computed once.

Kept values are shared between requests: callers must not mutate them (kept
values here are lists of frozen dataclasses or plain rows that callers copy).
Per process (each API replica keeps its own), bounded (least recently used out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cloudtally.store.base import Store

T = TypeVar("T")


def stamp(store: Store, table: str, where: str, params: dict[str, Any]) -> tuple[int, int]:
    """(count, max version) of the rows of ``table`` matching ``where``: changes with them."""
    row = store.rows(f"SELECT count(), max(version) FROM {table} WHERE {where}", params)[0]
    return int(row[0]), int(row[1] or 0)


class Memo:
    """Values by key, each with the stamp it was computed at; at most ``size`` kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()

    def cached(self, store: Store, key: Hashable, current: Hashable, compute: Callable[[], T]) -> T:
        """The value kept under ``key`` if computed at stamp ``current``, else ``compute()``."""
        full = (store.engine, store.database, id(store), key)
        with self._lock:
            hit = self._kept.get(full)
            if hit is not None and hit[0] == current:
                self._kept.move_to_end(full)
                self.hits += 1
                return hit[1]  # type: ignore[no-any-return]
        value = compute()  # outside the lock: other keys stay served meanwhile
        with self._lock:
            self.misses += 1
            self._kept[full] = (current, value)
            self._kept.move_to_end(full)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


# Query results (a window's per-VM figures: up to ~15,000 rows each): a few windows and
# scopes. HTTP answers (bytes): many routes, periods and bureaus.
QUERIES = Memo(32)
ANSWERS = Memo(1024)
cached = QUERIES.cached
