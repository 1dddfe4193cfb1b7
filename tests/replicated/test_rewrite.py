"""The replicated schema comes from the plain migrations by rewriting engines (no servers)."""

from __future__ import annotations

import re

import pytest

from cloudtally.store.base import split_statements
from cloudtally.store.migrate import LEDGER, available
from cloudtally.store.replication import (
    Replication,
    parse_server_url,
    replicated_ddl,
    replicated_write_target,
)

R = Replication()


def test_every_merge_tree_of_every_migration_becomes_replicated() -> None:
    creates = 0
    for m in available():
        for statement in split_statements(m.sql):
            out = replicated_ddl(statement, "cloudtally", R, m.version)
            engine = re.search(r"ENGINE\s*=\s*(\w+)", statement)
            if not statement.upper().startswith("CREATE") or engine is None:
                assert out == statement
                continue
            creates += 1
            found = re.search(r"(?:TABLE|VIEW)\s+(?:IF NOT EXISTS\s+)?(\w+)", statement)
            assert found is not None, statement
            name = found.group(1)
            if engine.group(1).endswith("MergeTree"):
                assert f"ENGINE = Replicated{engine.group(1)}(" in out, out
                path = f"/clickhouse/tables/{{shard}}/cloudtally/{name}-m{m.version:04d}"
                assert f"'{path}', '{{replica}}'" in out
            else:
                assert out == statement
            # Only the engine changed: columns, keys and partitioning are as written.
            assert out.split("ENGINE")[0] == statement.split("ENGINE")[0]
            assert re.sub(r"ENGINE\s*=\s*\w+(\([^)]*\))?", "", out) == re.sub(
                r"ENGINE\s*=\s*\w+(\([^)]*\))?", "", statement
            )
    assert creates >= 20


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("MergeTree", "ReplicatedMergeTree(P)"),
        ("MergeTree()", "ReplicatedMergeTree(P)"),
        ("ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree(P, version)"),
        ("SummingMergeTree((a, b))", "ReplicatedSummingMergeTree(P, (a, b))"),
        ("CollapsingMergeTree(sign)", "ReplicatedCollapsingMergeTree(P, sign)"),
    ],
)
def test_engine_arguments_are_kept_after_path_and_replica(engine: str, expected: str) -> None:
    sql = f"CREATE TABLE IF NOT EXISTS t (a UInt8, b UInt8) ENGINE = {engine} ORDER BY a"
    out = replicated_ddl(sql, "db", Replication(zk_path="/p/{database}/{table}"))
    expected = expected.replace("P", "'/p/db/t', '{replica}'", 1)
    assert out == f"CREATE TABLE IF NOT EXISTS t (a UInt8, b UInt8) ENGINE = {expected} ORDER BY a"


def test_a_table_created_by_a_migration_has_a_path_of_its_own() -> None:
    # 0001 created dead_letters; 0010 renames it away and creates a new dead_letters.
    sql = "CREATE TABLE dead_letters (a UInt8) ENGINE = ReplacingMergeTree ORDER BY a"
    first, again = (replicated_ddl(sql, "db", R, m) for m in (1, 10))
    assert "'/clickhouse/tables/{shard}/db/dead_letters-m0001', '{replica}'" in first
    assert "'/clickhouse/tables/{shard}/db/dead_letters-m0010', '{replica}'" in again


def test_what_stays_local() -> None:
    # The per-replica ledger, staging tables, views, and tables already replicated.
    assert replicated_ddl(LEDGER, "db", R) == LEDGER
    for sql in (
        "CREATE TABLE stage_1 (a UInt8) ENGINE = Memory",
        "CREATE VIEW v AS SELECT 1",
        "CREATE TABLE t (a UInt8) ENGINE = ReplicatedMergeTree('/x', 'r') ORDER BY a",
        "ALTER TABLE t DELETE WHERE a = 1",
        "INSERT INTO t SELECT 1",
    ):
        assert replicated_ddl(sql, "db", R) == sql
    mv = "CREATE MATERIALIZED VIEW mv ENGINE = SummingMergeTree ORDER BY a AS SELECT 1 AS a"
    assert "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/mv'" in replicated_ddl(
        mv, "db", R
    )
    other_db = replicated_ddl("CREATE TABLE x.t (a UInt8) ENGINE = MergeTree ORDER BY a", "db", R)
    assert "'/clickhouse/tables/{shard}/x/t'" in other_db


def test_statements_clickhouse_replicates_by_itself() -> None:
    assert replicated_write_target("ALTER TABLE invoice_lines DELETE WHERE 1") == "invoice_lines"
    assert replicated_write_target("  alter table db.`t` ADD COLUMN c UInt8") == "t"
    assert replicated_write_target("INSERT INTO hour_weights SELECT 1") == "hour_weights"
    assert replicated_write_target("CREATE TABLE t (a UInt8) ENGINE = Memory") is None


def test_store_url_names_replicas_and_options() -> None:
    t = parse_server_url(
        "clickhouse://app:s%40cret@ch-0:9000,ch-1:9440,[::1]/metering?replicated=true"
        "&zk_path=/ch/{shard}/{table}&replica=r-{replica}&insert_quorum=2&connect_timeout=1"
    )
    assert t.hosts == (("ch-0", 9000), ("ch-1", 9440), ("::1", 9000))
    assert (t.user, t.password, t.database) == ("app", "s@cret", "metering")
    assert t.replication == Replication("/ch/{shard}/{table}", "r-{replica}")
    assert (t.insert_quorum, t.connect_timeout_s, t.send_receive_timeout_s) == (2, 1.0, 30.0)
    single = parse_server_url("clickhouse://127.0.0.1:19000/db")
    assert single.hosts == (("127.0.0.1", 19000),) and single.replication is None
    assert single.send_receive_timeout_s == 300.0  # one server: the driver's default
    assert parse_server_url("clickhouse://h", "fallback").database == "fallback"
    with pytest.raises(ValueError, match="unknown store URL option"):
        parse_server_url("clickhouse://h/db?replicate=true")  # a typo is not ignored
    with pytest.raises(ValueError, match="bad port"):
        parse_server_url("clickhouse://h:90x0/db")
