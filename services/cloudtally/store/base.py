"""One store interface over two ClickHouse engines.

The SQL the project writes is the same for chDB (in-process, 26.x) and the
ClickHouse 18.16 server; parameters are rendered client-side by
:func:`render` because 18.16 has no server-side ``{name:Type}`` parameters.
Write ``%(name)s`` placeholders; ``%%`` for a literal percent sign.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pyarrow as pa

Params = Mapping[str, Any] | None
Columns = Mapping[str, "np.ndarray | Sequence[Any] | pa.Array | pa.ChunkedArray"]


class StoreError(RuntimeError):
    """A query failed; carries the engine's message."""


def quote(value: Any) -> str:
    """Render one Python value as a ClickHouse literal."""
    from cloudtally.store.idsets import IdSetRef

    if value is None:
        return "NULL"
    if isinstance(value, IdSetRef):
        return value.sql()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            raise ValueError(f"cannot render non-finite float {f!r}")
        return repr(f)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime parameter: attach a timezone")
        return f"toDateTime({int(value.timestamp())}, 'UTC')"
    if isinstance(value, dt.date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    if isinstance(value, tuple | set | frozenset):
        items = sorted(value, key=str) if not isinstance(value, tuple) else value
        return "(" + ", ".join(quote(v) for v in items) + ")" if items else "(NULL)"
    if isinstance(value, list):
        return "[" + ", ".join(quote(v) for v in value) + "]"
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


def render(sql: str, params: Params) -> str:
    if not params:
        return sql
    return sql % {k: quote(v) for k, v in params.items()}


# The table a writing statement changes (anything else written counts for every table).
_WRITES = re.compile(
    r"^\s*(?:INSERT\s+INTO|ALTER\s+TABLE|TRUNCATE\s+TABLE(?:\s+IF\s+EXISTS)?|"
    r"OPTIMIZE\s+TABLE|DROP\s+TABLE(?:\s+IF\s+EXISTS)?)\s+(?:\w+\.)?(\w+)",
    re.IGNORECASE,
)


class Store(ABC):
    """What the pipeline, the API and the CLI need from ClickHouse."""

    engine: Literal["chdb", "server"]
    database: str

    def note_write(self, sql_or_table: str, *, table: bool = False) -> None:
        """Count a write through this store (after it ran): :func:`write_mark` changes, so
        read models that keep figures (:mod:`cloudtally.queries.memo`) look again."""
        marks: dict[str, int] = self.__dict__.setdefault("_write_marks", {})
        key = sql_or_table
        if not table:
            m = _WRITES.match(sql_or_table)
            key = m.group(1) if m else "*"
        marks[key] = marks.get(key, 0) + 1

    def write_mark(self, table: str) -> tuple[int, int]:
        """Writes so far through this store to ``table`` and to unknown tables."""
        marks: dict[str, int] = self.__dict__.get("_write_marks", {})
        return marks.get(table, 0), marks.get("*", 0)

    def render(self, sql: str, params: Params) -> str:
        """``render`` with large id lists written as data first (:mod:`cloudtally.store.idsets`)."""
        from cloudtally.store.idsets import spill

        return render(sql, spill(self, params))

    @abstractmethod
    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT, ALTER)."""

    @abstractmethod
    def query(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a SELECT; return column names and rows (datetimes tz-aware UTC)."""

    @abstractmethod
    def columns(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        """Run a SELECT for bulk work: numpy columns; DateTime as int64 epoch seconds."""

    def insert(
        self, table: str, columns: Columns, constants: Mapping[str, Any] | None = None
    ) -> int:
        """Insert columnar data (numpy arrays or lists of equal length); return rows.

        ``constants`` are columns with one value for every row (source, version):
        the engine fills them in, so the hot path does not build per-row arrays.
        """
        try:
            return self._insert(table, columns, constants)
        finally:
            self.note_write(table, table=True)

    @abstractmethod
    def _insert(self, table: str, columns: Columns, constants: Mapping[str, Any] | None) -> int:
        """The engine's insert (:meth:`insert` counts the write)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def version(self) -> tuple[int, ...]:
        """Engine version, to gate modern-only SQL."""

    def release_memory(self) -> None:
        """Give memory the engine has freed back to the system now. Nothing here: a
        server's memory is its own process's; an embedded engine overrides it."""
        return None

    def execute_ddl(self, sql: str, migration: int | None = None) -> None:
        """Run a schema statement of migration ``migration``; a replicated store rewrites
        its engine (see cloudtally.store.replication)."""
        self.execute(sql)

    def replica_stores(self) -> Sequence[Store | StoreError]:
        """The store of each replica, for per-replica work (migrations); itself by default.

        A replica that does not answer is given as its ``StoreError``.
        """
        return [self]

    def replication_settled(self) -> bool:
        """True when what this store reads is everything acknowledged (always, unreplicated).

        A replicated store says False while a replica is down or this one has
        parts still to fetch: steps that keep a watermark must not move it then.
        """
        return True

    # Conveniences built on query(); the engines never need to override them.
    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self.query(sql, params)[1]

    def dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        names, rows = self.query(sql, params)
        return [dict(zip(names, r, strict=True)) for r in rows]

    def scalar(self, sql: str, params: Params = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def normalize_value(v: Any) -> Any:
    """Make values from both engines compare equal (aware UTC datetimes)."""
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)
    if isinstance(v, list):
        return [normalize_value(x) for x in v]
    return v


def _unwrap(type_name: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        if type_name.startswith(wrapper):
            return _unwrap(type_name[len(wrapper) : -1])
    return type_name


def converter(type_name: str) -> Any:
    """Build a function turning one JSON-encoded ClickHouse value into its Python value."""
    t = _unwrap(type_name)
    base: Any
    if t.startswith("Array("):
        inner = converter(t[6:-1])
        base = lambda v: [inner(x) for x in v]  # noqa: E731
    elif t.startswith("DateTime"):
        base = lambda v: dt.datetime.fromtimestamp(int(v), dt.UTC)  # noqa: E731
    elif t.startswith("Date"):
        base = dt.date.fromisoformat
    elif t.startswith("Decimal"):
        base = Decimal
    elif t.startswith(("Int", "UInt")):
        base = int
    elif t.startswith("Float"):
        base = float
    else:
        return lambda v: v
    return lambda v: None if v is None else base(v)


def split_statements(sql: str) -> list[str]:
    """Split a migration file on ';' at line ends; comments start with '--'."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    parts = "\n".join(lines).split(";\n")
    return [p.strip().rstrip(";").strip() for p in parts if p.strip().rstrip(";").strip()]
