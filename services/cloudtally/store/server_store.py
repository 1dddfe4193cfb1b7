"""ClickHouse server over the native protocol (cluster mode; tested on 18.16)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from cloudtally import metrics
from cloudtally.store.base import Columns, Params, Store, StoreError, normalize_value
from cloudtally.store.replication import ServerTarget, parse_server_url, replicated_ddl

log = logging.getLogger(__name__)

# How often a replicated store checks that its replica is still fit (not read-only,
# not behind); a check costs one small query on system.replicas per replica.
HEALTH_CHECK_S = 5.0
PROBE_TIMEOUT_S = 5.0  # a loaded machine answers system.replicas slowly; 1 s was too short
# How long an ALTER in a migration waits for the other replicas before going on.
ALTER_WAIT_S = 5
# Replication log entries + parts to fetch beyond which a replica is "behind" (a replica
# back from a crash) and the store moves to a peer that is not.
BEHIND_LIMIT = 50

# The driver logs a line per non-numpy column type on every insert; not useful.
logging.getLogger("clickhouse_driver.columns.service").setLevel(logging.ERROR)


# Server error codes after which another replica may succeed: TABLE_IS_READ_ONLY (lost
# ZooKeeper session), NO_ZOOKEEPER, KEEPER_EXCEPTION, SOCKET_TIMEOUT, NETWORK_ERROR,
# UNKNOWN_STATUS_OF_INSERT.
FAILOVER_CODES = {242: "read-only", 225: "no-zookeeper", 999: "keeper", 209: "timeout",
                  210: "network", 319: "unknown-insert-status"}  # fmt: skip


def failover_reason(exc: BaseException) -> str | None:
    """Why another replica might answer where this one failed; None for query errors."""
    from clickhouse_driver import errors

    if isinstance(exc, errors.SocketTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, errors.NetworkError | EOFError | ConnectionError | OSError):
        return "unreachable"
    code = getattr(exc, "code", None)
    return FAILOVER_CODES.get(code) if isinstance(code, int) else None


def _name(store: ServerStore, i: int) -> str:
    host, port = store.target.hosts[i]
    return f"{host}:{port}"


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
    """One ClickHouse server, or the replicas of one shard named in the URL.

    With several hosts (``clickhouse://h1:9000,h2:9000/db``) each thread's
    connection sticks to one replica and moves to the next when that one is
    unreachable or its tables are read-only (lost ZooKeeper): reads are
    retried there, and so are writes when the store is replicated, because
    ReplicatedMergeTree drops a block it already holds (insert
    deduplication), so a retried insert is stored once.
    """

    engine: Literal["server"] = "server"

    def __init__(
        self, url: str | ServerTarget, database: str = "cloudtally", *, watch: bool = True
    ) -> None:
        from clickhouse_driver import Client

        self.target = url if isinstance(url, ServerTarget) else parse_server_url(url, database)
        self.database = self.target.database
        self.replication = self.target.replication
        settings: dict[str, Any] = {"use_numpy": True}
        if self.target.insert_quorum:
            settings["insert_quorum"] = self.target.insert_quorum
        host, port = self.target.hosts[0]
        kw: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": self.target.user,
            "password": self.target.password,
            "settings": settings,
            "connect_timeout": self.target.connect_timeout_s,
            "send_receive_timeout": self.target.send_receive_timeout_s,
            "sync_request_timeout": min(5.0, self.target.send_receive_timeout_s),
        }
        self._create_database(Client, kw)
        self._client_kw = {**kw, "database": self.database}
        # clickhouse-driver clients are not thread-safe: one per thread.
        self._local = threading.local()
        self._clients: list[Any] = []
        self._types: dict[str, dict[str, str]] = {}
        # The replica every thread of this process uses (index into target.hosts): one
        # for all, so what one thread wrote the next one reads; moved by _fail_over.
        self._replica = 0
        self._replica_lock = threading.Lock()
        self._checked_at = float("-inf")  # check the replica on first use
        if watch and self.replication is not None:
            from cloudtally.store.health import watch as watch_replicas

            watch_replicas(self.target)

    def _create_database(self, client_cls: Any, kw: dict[str, Any]) -> None:
        """Databases are per server: create it on every replica that answers."""
        reached, errors = 0, []
        for host, port in self.target.hosts:
            one = {k: v for k, v in kw.items() if k != "alt_hosts"}
            bootstrap = client_cls(**{**one, "host": host, "port": port})
            try:
                bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
                reached += 1
            except Exception as exc:
                if len(self.target.hosts) == 1:
                    raise
                errors.append(f"{host}:{port}: {str(exc).splitlines()[0]}")
            finally:
                bootstrap.disconnect()
        if not reached:
            raise StoreError("no replica of the store answers: " + "; ".join(errors))
        for err in errors:
            log.warning("store replica unreachable (database not checked): %s", err)

    def replica_stores(self) -> list[ServerStore | StoreError]:
        """One store per replica named in the URL (an error for one that does not answer)."""
        if len(self.target.hosts) == 1:
            return [self]
        out: list[ServerStore | StoreError] = []
        for i, (host, port) in enumerate(self.target.hosts):
            try:
                out.append(ServerStore(self.target.one_host(i), watch=False))
            except Exception as exc:
                out.append(StoreError(f"replica {host}:{port}: {str(exc).splitlines()[0]}"))
        return out

    def execute_ddl(self, sql: str, migration: int | None = None) -> None:
        """A schema statement: rewritten to the Replicated engines in a replicated store.

        An ALTER of a replicated table waits for every replica, even a dead one, up
        to ``replication_alter_columns_timeout`` and then fails with code 341 although
        it is applied here and queued for the others (18.16, measured): it is done.
        """
        if self.replication is None:
            return self.execute(sql)
        sql = replicated_ddl(sql, self.database, self.replication, migration)
        if not sql.lstrip().upper().startswith("ALTER"):
            return self.execute(sql)
        settings = {"use_numpy": False, "replication_alter_columns_timeout": ALTER_WAIT_S}
        try:
            self._run(sql, write=True, settings=settings)
        except StoreError as exc:
            if getattr(exc.__cause__, "code", None) != 341:
                raise
            log.warning("%s: applied here; a replica that is down applies it when back", sql)

    def replication_settled(self) -> bool:
        if self.replication is None:
            return True
        from cloudtally.store.health import probe, settled

        return settled(probe(self.target, self._replica, PROBE_TIMEOUT_S))

    @property
    def host(self) -> str:
        """The replica this process uses now, as ``host:port``."""
        host, port = self.target.hosts[self._replica]
        return f"{host}:{port}"

    @property
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is not None and self._local.replica != self._replica:
            client.disconnect()  # another thread moved the process to another replica
            client = None
        if client is None:
            from clickhouse_driver import Client

            replica = self._replica
            host, port = self.target.hosts[replica]
            client = Client(**{**self._client_kw, "host": host, "port": port})
            self._local.client, self._local.replica = client, replica
            self._clients.append(client)
        return client

    def _fail_over(self, failed: int, reason: str) -> None:
        """Move the process off replica ``failed`` to the fittest other one."""
        from cloudtally.store.health import lag, probe

        with self._replica_lock:
            if self._replica != failed:
                return  # another thread already moved
            others = [i for i in range(len(self.target.hosts)) if i != failed]
            best = others[0]
            if len(others) > 1:
                best = min(others, key=lambda i: (lag(probe(self.target, i, PROBE_TIMEOUT_S)), i))
            log.warning("store replica %s: %s; moving to %s", self.host, reason, _name(self, best))
            metrics.STORE_FAILOVERS.labels(reason).inc()
            self._replica = best

    def _check_replica(self) -> None:
        """Every few seconds: leave a replica that went read-only or fell behind.

        Only on evidence: a probe that does not answer in time (a loaded machine)
        moves nothing; a replica that really is gone fails the next query instead.
        """
        from cloudtally.store.health import lag, probe

        if time.monotonic() - self._checked_at < HEALTH_CHECK_S:
            return
        with self._replica_lock:
            if time.monotonic() - self._checked_at < HEALTH_CHECK_S:
                return
            self._checked_at = time.monotonic()
            current = self._replica
            figures = probe(self.target, current, PROBE_TIMEOUT_S)
            if figures is None or lag(figures) < BEHIND_LIMIT:
                return
        mine = lag(figures)
        others = [i for i in range(len(self.target.hosts)) if i != current]
        better = min((lag(probe(self.target, i, PROBE_TIMEOUT_S)), i) for i in others)
        if better[0] < BEHIND_LIMIT:
            self._fail_over(current, "read-only" if mine >= 1e9 else "behind")

    def _run(self, sql: str, *args: Any, write: bool = False, **kw: Any) -> Any:
        several = len(self.target.hosts) > 1
        retry = several and (not write or self.replication is not None)
        attempts = len(self.target.hosts) if retry else 1
        if several and self.replication is not None:
            self._check_replica()
        for attempt in range(attempts):
            replica, client = self._replica, self._client
            try:
                return client.execute(sql, *args, **kw)
            except Exception as exc:
                reason = failover_reason(exc) if several else None
                if reason:
                    client.disconnect()
                    self._fail_over(replica, reason)
                    if attempt + 1 < attempts:
                        continue
                message = str(exc).split(" Stack trace:")[0].strip()
                raise StoreError(f"{message}\n-- SQL: {sql[:500]}") from exc
        raise AssertionError("unreachable")

    def execute(self, sql: str, params: Params = None) -> None:
        try:
            self._run(self.render(sql, params), write=True, settings={"use_numpy": False})
        finally:
            self.note_write(sql)

    def query(self, sql: str, params: Params = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows, types = self._run(
            self.render(sql, params), with_column_types=True, settings={"use_numpy": False}
        )
        names = [t[0] for t in types]
        return names, [tuple(normalize_value(v) for v in r) for r in rows]

    def columns(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        data, types = self._run(self.render(sql, params), columnar=True, with_column_types=True)
        if not data:  # no rows: the driver gives no columns at all, only their types
            data = [[] for _ in types]
        out = {}
        for (name, _type), col in zip(types, data, strict=True):
            arr = np.asarray(col)
            if arr.dtype.kind == "M":
                arr = arr.astype("datetime64[s]").astype(np.int64)
            elif arr.dtype.kind == "U":
                arr = arr.astype(object)
            out[name] = arr
        return out

    def _insert(
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
        self._run(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES", data, write=True, columnar=True
        )
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
