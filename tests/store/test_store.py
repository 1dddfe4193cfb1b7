"""The store adapter on both engines: migrations, types, dedup, quoting, numpy columns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from cloudtally.store import Store, StoreError
from cloudtally.store.migrate import LEDGER, MigrationError, available, migrate

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
UTC = dt.UTC


def utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, UTC)


def sample_rows(vm: str, n: int, *, cpu: float = 10.0, version: int = 1) -> dict[str, object]:
    return {
        "vm_id": [vm] * n,
        "ts": np.arange(n, dtype=np.int64) * 60 + T0,
        "cpu_pct": np.full(n, cpu, dtype=np.float32),
        "mem_pct": np.full(n, 50.0, dtype=np.float32),
        "source": ["test"] * n,
        "version": np.full(n, version, dtype=np.uint64),
    }


# ---------------------------------------------------------------- migrations


def test_migrations_apply_once_and_are_recorded(store: Store) -> None:
    expected = [(m.version, m.name, m.checksum) for m in available()]
    assert expected and expected[0][:2] == (1, "raw")

    assert migrate(store) == []  # the fixture already migrated: a second run does nothing

    ledger = store.rows("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert ledger == expected
    tables = {r[0] for r in store.rows("SHOW TABLES")}
    assert {"samples", "disk_samples", "vm_inventory", "dead_letters", "ingest_log"} <= tables


def test_changed_applied_migration_is_refused(store: Store) -> None:
    ledger = store.columns(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    )
    ledger["checksum"][0] = "0123456789abcdef"  # as if 0001 had been edited after applying
    store.execute("DROP TABLE schema_migrations")
    store.execute(LEDGER)
    store.insert("schema_migrations", ledger)

    with pytest.raises(MigrationError, match="0001_raw changed after it was applied"):
        migrate(store)


# ---------------------------------------------------------------- types


def test_every_raw_column_type_round_trips(store: Store) -> None:
    store.insert(
        "vm_inventory",
        {
            "vm_id": ["vm-1", "vm-2"],
            "event_ts": [T0, T0 + 3600],
            "event": ["created", "deleted"],
            "name": ["web 1", "数据库"],
            "bureau": ["b-edu", "b-health"],
            "system": ["portal", "db"],
            "pool": ["pool-a", "pool-b"],
            "provider": ["p1", "p2"],
            "vcpu": [4, 65535],
            "mem_gb": [Decimal("7.5"), Decimal("123456789.125")],
            "disk_ids": [["d0", "d1"], []],
            "disk_size_gb": [[Decimal("40"), Decimal("1000.125")], []],
            "disk_tiers": [["performance", "archive"], []],
            "version": np.array([1, 2**63], dtype=np.uint64),  # a list >= 2**63 breaks chDB
        },
    )
    rows = store.rows(
        "SELECT vm_id, event_ts, toString(event), name, vcpu, mem_gb, disk_ids, disk_size_gb,"
        " disk_tiers, version FROM vm_inventory ORDER BY vm_id"
    )
    assert rows == [
        ("vm-1", utc(T0), "created", "web 1", 4, Decimal("7.5"), ["d0", "d1"],
         [Decimal("40"), Decimal("1000.125")], ["performance", "archive"], 1),
        ("vm-2", utc(T0 + 3600), "deleted", "数据库", 65535, Decimal("123456789.125"), [], [], [],
         2**63),
    ]  # fmt: skip
    # Decimal arithmetic stays exact in SQL, and the Enum compares by name.
    assert store.scalar("SELECT sum(mem_gb) FROM vm_inventory WHERE event = 'created'") == Decimal(
        "7.5"
    )

    store.insert(
        "dead_letters",
        {
            "received_at": [T0],
            "topic": ["samples"],
            "partition": [4_000_000_000],
            "offset": [2**40],
            "row_index": [-1],
            "section": ["message"],
            "reason": ["not valid JSON"],
            "payload": ["{'a'"],
            "payload_encoding": ["utf-8"],
        },
    )
    assert store.rows("SELECT partition, offset, row_index, payload FROM dead_letters") == [
        (4_000_000_000, 2**40, -1, "{'a'")
    ]

    store.insert("samples", sample_rows("vm-1", 1, cpu=12.25))
    assert store.rows("SELECT ts, cpu_pct, mem_pct FROM samples") == [(utc(T0), 12.25, 50.0)]


def test_out_of_range_enum_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.execute(
            "INSERT INTO vm_inventory (vm_id, event_ts, event, version) "
            "SELECT 'x', toDateTime(0, 'UTC'), 'exploded', 1"
        )


# ---------------------------------------------------------------- dedup


def test_redelivered_samples_collapse_under_final(store: Store) -> None:
    store.insert("samples", sample_rows("vm-a", 30))
    store.insert("samples", sample_rows("vm-a", 30))  # the same batch delivered again
    store.insert("samples", sample_rows("vm-b", 5))

    assert store.scalar("SELECT count() FROM samples FINAL") == 35
    assert store.rows("SELECT vm_id, count() FROM samples FINAL GROUP BY vm_id ORDER BY vm_id") == [
        ("vm-a", 30),
        ("vm-b", 5),
    ]


def test_corrected_sample_with_higher_version_wins(store: Store) -> None:
    store.insert("samples", sample_rows("vm-a", 3, cpu=10.0, version=5))
    corrected = sample_rows("vm-a", 1, cpu=80.0, version=6)
    stale = sample_rows("vm-a", 1, cpu=1.0, version=4)  # late, older version: must lose
    store.insert("samples", corrected)
    store.insert("samples", stale)

    rows = store.rows("SELECT ts, cpu_pct, version FROM samples FINAL ORDER BY ts")
    assert rows == [(utc(T0), 80.0, 6), (utc(T0 + 60), 10.0, 5), (utc(T0 + 120), 10.0, 5)]


# ---------------------------------------------------------------- parameters


NASTY = [
    "it's",
    'say "hi"',
    "back\\slash",
    "trailing backslash\\",
    "\\'",
    "x' OR 1=1 --",
    "'); DROP TABLE samples; --",
    "100%",
    "tab\tnew\nline",
    "空 белый",
]


@pytest.mark.parametrize("value", NASTY)
def test_string_parameters_round_trip_and_cannot_inject(store: Store, value: str) -> None:
    assert store.scalar("SELECT %(v)s", {"v": value}) == value

    store.insert("samples", {**sample_rows("plain", 1), "source": ["plain"]})
    store.insert("samples", {**sample_rows(value, 1), "source": [value]})
    found = store.rows("SELECT vm_id, source FROM samples WHERE vm_id = %(v)s", {"v": value})
    assert found == [(value, value)]  # exactly the matching row: no injected OR, no error
    assert store.scalar("SELECT count() FROM samples") == 2  # nothing dropped


def test_list_tuple_and_datetime_parameters(store: Store) -> None:
    store.insert("samples", sample_rows("vm-a", 10))
    n = store.scalar(
        "SELECT count() FROM samples WHERE vm_id IN %(vms)s AND ts >= %(t)s",
        {"vms": ("vm-a", "vm-z"), "t": utc(T0 + 300)},
    )
    assert n == 5
    assert store.scalar("SELECT has(%(xs)s, 'b')", {"xs": ["a", "b"]}) == 1
    assert store.scalar("SELECT toString(%(d)s)", {"d": Decimal("12.345")}) == "12.345"


def test_naive_datetime_parameter_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.scalar("SELECT %(t)s", {"t": dt.datetime(2024, 1, 1)})


# ---------------------------------------------------------------- numpy columns


def test_columns_are_numpy_with_epoch_datetimes(store: Store) -> None:
    store.insert("samples", sample_rows("vm-a", 4, cpu=33.5))

    cols = store.columns(
        "SELECT vm_id, ts, cpu_pct, version, toDateTime(ts, 'Asia/Shanghai') AS local_ts "
        "FROM samples ORDER BY ts"
    )

    assert list(cols) == ["vm_id", "ts", "cpu_pct", "version", "local_ts"]
    assert all(isinstance(c, np.ndarray) for c in cols.values())
    assert cols["ts"].dtype.kind in "iu"  # epoch seconds, not datetime64
    assert cols["ts"].tolist() == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert cols["local_ts"].tolist() == cols["ts"].tolist()  # same instant, whatever the zone
    assert cols["vm_id"].tolist() == ["vm-a"] * 4
    assert cols["cpu_pct"].dtype.kind == "f"
    assert np.allclose(cols["cpu_pct"], 33.5)
    assert cols["version"].tolist() == [1, 1, 1, 1]


def test_engine_is_what_the_parameter_says(store: Store, request: pytest.FixtureRequest) -> None:
    assert store.engine == request.node.callspec.params["store"]
    assert store.database.startswith("t_")
    if store.engine == "server":
        assert store.version[:2] == (18, 16)
    else:
        assert store.version[0] >= 25
