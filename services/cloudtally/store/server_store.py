"""ClickHouse server over the native protocol (cluster mode; tested on 18.16)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa

from cloudtally.store.base import Columns, Params, Store, StoreError, normalize_value

# The driver logs a line per non-numpy column type on every insert; not useful.
logging.getLogger("clickhouse_driver.columns.service").setLevel(logging.ERROR)


def _repeat(value: Any, n: int) -> np.ndarray:
    if isinstance(value, int | float):
        return np.full(n, value)
    arr = np.empty(n, dtype=object)
    arr[:] = [value] * n
    return arr


def _as_ndarray(
    col: np.ndarray | Sequence[Any] | pa.Array | pa.ChunkedArray, type_name: str
) -> np.ndarray:
    """The driver's numpy mode wants ndarrays, and DateTime as datetime64."""
    if isinstance(col, pa.Array | pa.ChunkedArray):  # from the sink: numpy for the driver
        col = col.to_numpy(zero_copy_only=False)
    if type_name.startswith(("DateTime", "Nullable(DateTime")) and not (
        isinstance(col, np.ndarray) and col.dtype.kind == "M"
    ):
        first = col[0] if len(col) else None
        if isinstance(first, int | np.integer):
            return np.asarray(col, dtype=np.int64).astype("datetime64[s]")
    if isinstance(col, np.ndarray):
        return col if col.dtype.kind != "U" else col.astype(object)
    arr = np.empty(len(col), dtype=object)
    arr[:] = list(col)
    return arr


class ServerStore(Store):
    engine: Literal["server"] = "server"

    def __init__(self, url: str, database: str = "cloudtally") -> None:
        from clickhouse_driver import Client

        u = urlparse(url)
        self.database = u.path.strip("/") or database
        kw: dict[str, Any] = {
            "host": u.hostname or "127.0.0.1",
            "port": u.port or 9000,
            "user": u.username or "default",
            "password": u.password or "",
            "settings": {"use_numpy": True},
        }
        bootstrap = Client(**kw)
        bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        bootstrap.disconnect()
        self._client_kw = {**kw, "database": self.database}
        # clickhouse-driver clients are not thread-safe: one per thread.
        self._local = threading.local()
        self._clients: list[Any] = []
        self._types: dict[str, dict[str, str]] = {}

    @property
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from clickhouse_driver import Client

            client = Client(**self._client_kw)
            self._local.client = client
            self._clients.append(client)
        return client

    def _run(self, sql: str, *args: Any, **kw: Any) -> Any:
        try:
            return self._client.execute(sql, *args, **kw)
        except Exception as exc:
            message = str(exc).split(" Stack trace:")[0].strip()
            raise StoreError(f"{message}\n-- SQL: {sql[:500]}") from exc

    def execute(self, sql: str, params: Params = None) -> None:
        self._run(self.render(sql, params), settings={"use_numpy": False})

    def query(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows, types = self._run(
            self.render(sql, params), with_column_types=True, settings={"use_numpy": False}
        )
        names = [t[0] for t in types]
        return names, [tuple(normalize_value(v) for v in r) for r in rows]

    def columns(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        data, types = self._run(self.render(sql, params), columnar=True, with_column_types=True)
        out = {}
        for (name, _type), col in zip(types, data, strict=True):
            arr = np.asarray(col)
            if arr.dtype.kind == "M":
                arr = arr.astype("datetime64[s]").astype(np.int64)
            elif arr.dtype.kind == "U":
                arr = arr.astype(object)
            out[name] = arr
        return out

    def insert(
        self, table: str, columns: Columns, constants: Mapping[str, Any] | None = None
    ) -> int:
        names = list(columns)
        types = self._column_types(table)
        data = [_as_ndarray(columns[n], types.get(n, "")) for n in names]
        n = len(data[0]) if data else 0
        if n == 0:
            return 0
        for name, value in (constants or {}).items():
            names.append(name)
            data.append(_as_ndarray(_repeat(value, n), types.get(name, "")))
        self._run(f"INSERT INTO {table} ({', '.join(names)}) VALUES", data, columnar=True)
        return n

    def _column_types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            rows = self.rows(
                "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                {"db": self.database, "t": table},
            )
            self._types[table] = dict(rows)
        return self._types[table]

    @property
    def version(self) -> tuple[int, ...]:
        v = self.scalar("SELECT version()")
        return tuple(int(x) for x in str(v).split(".")[:3])

    def close(self) -> None:
        for c in self._clients:
            c.disconnect()
        self._clients.clear()
        self._local = threading.local()
