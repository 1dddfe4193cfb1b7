"""Replicated store: the server URL naming every replica, and the engine rewrite.

Cluster mode runs on Replicated*MergeTree tables coordinated by ZooKeeper
(or ClickHouse Keeper). The migrations stay written once, for plain engines
(chDB and a single server run them as they are); a store opened with
``?replicated=true`` rewrites each ``ENGINE = XMergeTree(args)`` of a
``CREATE TABLE`` into ``ENGINE = ReplicatedXMergeTree('<zk path>', '<replica>', args)``
as the statement is executed. So every migration, including ones written
later by someone who never thought of replication, gets the replicated schema.

URL::

    clickhouse://[user[:password]@]host1:9000[,host2:9000...]/database
        ?replicated=true                          Replicated*MergeTree (default false)
        &zk_path=/clickhouse/tables/{shard}/{database}/{table}
        &replica={replica}                        server macro naming this replica
        &connect_timeout=2&send_receive_timeout=30  seconds (short, to fail over)
        &insert_quorum=2                          optional: ack only when 2 replicas hold it

``{database}`` and ``{table}`` in ``zk_path`` are filled in here; ``{shard}`` and
``{replica}`` are left to the server's ``<macros>``; a table created by a
migration gets the migration's number appended (``.../samples-m0001``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

DEFAULT_ZK_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
DEFAULT_REPLICA = "{replica}"

# Tables that stay local to each replica even in a replicated store: the
# migrations ledger says what *this* replica's schema has (see migrate.py).
LOCAL_TABLES = frozenset({"schema_migrations"})

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Replication:
    zk_path: str = DEFAULT_ZK_PATH
    replica: str = DEFAULT_REPLICA


@dataclass(frozen=True)
class ServerTarget:
    """What a ``clickhouse://`` URL names."""

    hosts: tuple[tuple[str, int], ...]
    database: str
    user: str = "default"
    password: str = ""
    replication: Replication | None = None
    connect_timeout_s: float = 10.0
    send_receive_timeout_s: float = 300.0
    insert_quorum: int = 0
    options: dict[str, str] = field(default_factory=dict)

    def one_host(self, i: int) -> ServerTarget:
        """The same target restricted to replica ``i`` (no failover)."""
        return ServerTarget(
            (self.hosts[i],),
            self.database,
            self.user,
            self.password,
            self.replication,
            self.connect_timeout_s,
            self.send_receive_timeout_s,
            self.insert_quorum,
            self.options,
        )


def parse_server_url(url: str, default_database: str = "cloudtally") -> ServerTarget:
    """Parse ``clickhouse://`` / ``tcp://`` URLs, with one host or a comma-separated list."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    user, password = "default", ""
    if "@" in netloc:
        cred, netloc = netloc.rsplit("@", 1)
        u, _, p = cred.partition(":")
        user, password = unquote(u) or "default", unquote(p)
    hosts = []
    for item in netloc.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("[") and "]" in item:  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, sep, port = item.rpartition(":")
            if not sep:
                host, port = item, ""
        if not port.isdigit() and port:
            raise ValueError(f"bad port in store URL host {item!r}")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port or 9000)))
    if not hosts:
        hosts = [("127.0.0.1", 9000)]
    opts = {k: v[-1] for k, v in parse_qs(query).items()}
    known = {
        "replicated",
        "zk_path",
        "replica",
        "connect_timeout",
        "send_receive_timeout",
        "insert_quorum",
    }
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"unknown store URL option(s) {unknown}; known: {sorted(known)}")
    replication = None
    if opts.get("replicated", "").lower() in _TRUE:
        replication = Replication(
            opts.get("zk_path", DEFAULT_ZK_PATH), opts.get("replica", DEFAULT_REPLICA)
        )
    several = len(hosts) > 1
    return ServerTarget(
        hosts=tuple(hosts),
        database=path.strip("/") or default_database,
        user=user,
        password=password,
        replication=replication,
        # Several replicas: give up on a dead or frozen one quickly and use the next.
        connect_timeout_s=float(opts.get("connect_timeout", 2 if several else 10)),
        send_receive_timeout_s=float(opts.get("send_receive_timeout", 30 if several else 300)),
        insert_quorum=int(opts.get("insert_quorum", 0)),
        options=opts,
    )


_CREATE = re.compile(
    r"^\s*CREATE\s+(?:(?P<mv>MATERIALIZED\s+VIEW)|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:`?(?P<db>\w+)`?\.)?`?(?P<name>\w+)`?",
    re.IGNORECASE,
)
# ENGINE = [Replacing|Summing|Aggregating|Collapsing|...]MergeTree[(args)], args with
# at most one level of nested parentheses (e.g. SummingMergeTree((a, b))).
_ENGINE = re.compile(
    r"ENGINE\s*=\s*(?P<kind>[A-Za-z]*)MergeTree\b(?:\s*\((?P<args>(?:[^()]|\([^()]*\))*)\))?",
    re.IGNORECASE,
)


def replicated_ddl(
    sql: str, database: str, replication: Replication, migration: int | None = None
) -> str:
    """Rewrite a CREATE TABLE / MATERIALIZED VIEW on a *MergeTree engine to its Replicated form.

    Other statements, other engines (Memory staging tables, views, Distributed),
    tables already Replicated and the per-replica ``LOCAL_TABLES`` pass unchanged.
    A table created by migration N gets the Keeper path ``<zk_path>-mN``: a later
    migration that renames it away and creates a new table of the same name
    (``RENAME``, ``CREATE``, ``INSERT ... SELECT``, ``DROP``) gets a path of its own,
    where the same path would collide with the renamed table's replicas.
    """
    create = _CREATE.match(sql)
    if not create:
        return sql
    name = create.group("name")
    if name in LOCAL_TABLES and not create.group("mv"):
        return sql
    engine = _ENGINE.search(sql)
    if not engine or engine.group("kind").lower().startswith("replicated"):
        return sql
    db = create.group("db") or database
    path = replication.zk_path.replace("{database}", db).replace("{table}", name)
    if migration is not None:
        path += f"-m{migration:04d}"
    args = [f"'{path}'", f"'{replication.replica}'"]
    if engine.group("args") and engine.group("args").strip():
        args.append(engine.group("args").strip())
    replacement = f"ENGINE = Replicated{engine.group('kind')}MergeTree({', '.join(args)})"
    return sql[: engine.start()] + replacement + sql[engine.end() :]


_WRITE = re.compile(r"^\s*(?:ALTER\s+TABLE|INSERT\s+INTO)\s+(?:`?\w+`?\.)?`?(\w+)`?", re.IGNORECASE)


def replicated_write_target(sql: str) -> str | None:
    """The table of an ``ALTER TABLE`` / ``INSERT INTO`` statement, else None.

    On a Replicated table ClickHouse itself carries these to every replica
    (through the ZooKeeper log), so a migration runs them once, not per replica.
    """
    m = _WRITE.match(sql)
    return m.group(1) if m else None
