"""chDB: ClickHouse in this process, data in a local folder (embedded mode).

chDB allows one process per folder, so the process that opens it must host
every reader and writer (the worker serves the API in embedded mode).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow as pa

from cloudtally.store.base import Columns, Params, Store, StoreError, converter, quote

_JSON_SETTINGS = "date_time_output_format='unix_timestamp', output_format_json_quote_decimals=1"
# Background work (console/warming.py) gives way to every other query waiting for chDB,
# for up to this long per query (then it waits in line like the others: never starved).
GIVE_WAY_MAX_S = 60.0
RELEASE_EVERY_S = 0.2  # release_memory() purges at most this often
_background = threading.local()


@contextlib.contextmanager
def background(store: Any) -> Iterator[None]:
    """This thread's store queries run only when no other thread waits for chDB (the
    one chDB session runs one query at a time: ingest must not queue behind a warm-up)."""
    _background.on = True
    try:
        yield
    finally:
        _background.on = False


def to_arrow(columns: Columns) -> pa.Table:
    arrays: dict[str, Any] = {}
    for name, col in columns.items():
        if isinstance(col, pa.Array | pa.ChunkedArray):  # the sink's hot path: as is
            arrays[name] = col
        elif isinstance(col, np.ndarray) and col.dtype.kind in "iufb":
            arrays[name] = pa.array(col)
        elif isinstance(col, np.ndarray) and col.dtype.kind == "M":
            arrays[name] = pa.array(col.astype("datetime64[s]").astype(np.int64).astype(np.uint32))
        elif isinstance(col, np.ndarray) and col.dtype == object:
            arrays[name] = pa.array(col, from_pandas=True)
        else:
            arrays[name] = pa.array(list(col))
        if pa.types.is_list(arrays[name].type) and pa.types.is_null(arrays[name].type.value_type):
            # Only empty lists: Arrow cannot infer the element type; any typed empty
            # array converts to the column's Array(T).
            arrays[name] = arrays[name].cast(pa.list_(pa.string()))
    return pa.table(arrays)


def _numpy(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return np.asarray(col.to_pylist(), dtype=object)
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.int64()).to_numpy()
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return col.to_numpy()
    arr = np.empty(len(col), dtype=object)
    arr[:] = col.to_pylist()
    return arr


class ChdbStore(Store):
    engine: Literal["chdb"] = "chdb"

    def __init__(
        self,
        path: str | Path,
        database: str = "cloudtally",
        engine_settings: Mapping[str, str] | None = None,
    ) -> None:
        """``engine_settings``: chDB server settings (cache sizes, memory cap) given at
        start-up; chDB's defaults are a server's (5 GiB mark cache ...)."""
        from chdb import session

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.database = database
        for name in engine_settings or {}:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"bad chDB setting name {name!r}")
        query = "&".join(f"{k}={v}" for k, v in (engine_settings or {}).items())
        self._session = session.Session(f"{self.path}?{query}" if query else str(self.path))
        # chDB serialises queries internally; a lock keeps our own state simple too.
        self._lock = threading.RLock()
        self._waiting = 0  # threads waiting for the lock (background work gives way to them)
        self._waiting_lock = threading.Lock()
        self._released = 0.0  # monotonic time of the last purge (inf: the build has none)
        self._session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self._session.query(f"USE {database}")

    def _run(self, sql: str, fmt: str) -> Any:
        if getattr(_background, "on", False):
            self._give_way()
        else:
            with self._waiting_lock:
                self._waiting += 1
            try:
                self._lock.acquire()
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # chdb raises plain RuntimeError
            raise StoreError(f"{exc}\n-- SQL: {sql[:500]}") from exc
        finally:
            self._lock.release()

    def release_memory(self) -> None:
        """chDB's jemalloc keeps freed pages for seconds (5 s in its build), so after a
        large insert or join the process holds what it freed as well as what it uses:
        ``SYSTEM JEMALLOC PURGE`` gives them back now. At most every RELEASE_EVERY_S (a
        purged page is faulted in again when reused); a build without it is not asked
        again. Measured in docs/invoices.md (1M-line import and verification)."""
        now = time.monotonic()
        if now - self._released < RELEASE_EVERY_S:
            return
        self._released = now
        try:
            self._run("SYSTEM JEMALLOC PURGE", "CSV")
        except StoreError:
            self._released = float("inf")

    def _give_way(self) -> None:
        """Take the lock only when it is free and nobody else waits for it."""
        deadline = time.monotonic() + GIVE_WAY_MAX_S
        while time.monotonic() < deadline:
            if not self._waiting and self._lock.acquire(blocking=False):
                if not self._waiting:
                    return
                self._lock.release()  # someone came meanwhile: after them
            time.sleep(0.005)
        self._lock.acquire()

    def execute(self, sql: str, params: Params = None) -> None:
        try:
            self._run(self.render(sql, params), "CSV")
        finally:
            self.note_write(sql)

    def query(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        text = self.render(sql, params)
        if "SETTINGS" not in text.upper():
            text += f"\nSETTINGS {_JSON_SETTINGS}"
        lines = self._run(text, "JSONCompactEachRowWithNamesAndTypes").bytes().splitlines()
        if not lines:
            return [], []
        names = orjson.loads(lines[0])
        converters = [converter(t) for t in orjson.loads(lines[1])]
        rows = [
            tuple(conv(v) for conv, v in zip(converters, orjson.loads(line), strict=True))
            for line in lines[2:]
        ]
        return names, rows

    def columns(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        table = self._run(self.render(sql, params), "ArrowTable")
        return {name: _numpy(table.column(i)) for i, name in enumerate(table.column_names)}

    def _insert(
        self, table: str, columns: Columns, constants: Mapping[str, Any] | None = None
    ) -> int:
        data = to_arrow(columns)
        if data.num_rows == 0:
            return 0
        if any(col.num_chunks > 1 for col in data.columns):
            # chDB's Python() source pays per Arrow chunk: a flush's 500 message-sized
            # chunks took ~1.6x as long to insert as the same rows in one chunk, and
            # joining them costs ~8 ms per 500k rows (one copy, freed after the insert).
            data = data.combine_chunks()
        names = list(data.column_names)
        values = list(names)
        for name, value in (constants or {}).items():
            names.append(name)
            values.append(quote(value))
        columns_sql, values_sql = ", ".join(names), ", ".join(values)
        self._run(
            f"INSERT INTO {table} ({columns_sql}) SELECT {values_sql} FROM Python(data)", "CSV"
        )
        return int(data.num_rows)

    @property
    def version(self) -> tuple[int, ...]:
        v = self.scalar("SELECT version()")
        return tuple(int(x) for x in str(v).split(".")[:3])

    def close(self) -> None:
        with self._lock:
            self._session.close()
