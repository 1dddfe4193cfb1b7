"""The buyer's resource ledger (资源台账) with Chinese headers, diffed against inventory.

Created / resized / moved / deleted rows give exactly the expected events; the
events go through the real broker and sink, and a second import of the same
ledger finds nothing to do. A bad row rejects the file with its row, column and
reason, and nothing is sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from cloudtally.collectors.producer import InventoryProducer
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.core.ledger import SHANGHAI, LedgerMapping, mapping_from_dict
from cloudtally.inventory.ledger import (
    LedgerRejected,
    current_inventory,
    describe,
    plan,
    to_event,
)
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.collectors.realparts import Drain
from tests.collectors.test_prometheus_live import add_inventory

T_OLD = int(dt.datetime(2025, 1, 1, tzinfo=SHANGHAI).timestamp())
EFFECTIVE = int(dt.datetime(2025, 6, 1, tzinfo=SHANGHAI).timestamp())
HEADER = (
    "云主机ID,云主机名称,使用单位,业务系统,资源池,云服务商,CPU(核),内存(GB),磁盘,"
    "开通日期,销毁日期,变更日期"
)
LEDGER = [
    HEADER,
    # resized: 2 -> 4 vCPU, 4 -> 8 GB
    "vm-a,门户网站,教育局,门户,池一,电信,4,8,,2025/01/01,,",
    # moved: 教育局 -> 卫健委 on 15 May 2025
    "vm-b,办公系统,卫健委,办公,池一,电信,2,4,,2025/01/01,,2025年5月15日",
    # deleted on 20 May 2025
    "vm-c,旧系统,民政局,旧,池一,电信,2,4,,2025-01-01,2025-05-20,",
    # unchanged
    "vm-d,数据库,民政局,数据,池一,电信,2,4,,2025-01-01,,",
    # created 10 May 2025 08:30, two disks
    "vm-e,新系统,民政局,新,池二,电信,8,16,系统盘:100:高性能；数据盘:500:标准,2025-05-10 08:30,,",
]


def _current(store: Store) -> None:
    for vm, bureau, name, system in (
        ("vm-a", "教育局", "门户网站", "门户"),
        ("vm-b", "教育局", "办公系统", "办公"),
        ("vm-c", "民政局", "旧系统", "旧"),
        ("vm-d", "民政局", "数据库", "数据"),
    ):
        add_inventory(
            store,
            [vm],
            T_OLD,
            bureau=bureau,
            name=name,
            system=system,
            pool="池一",
            provider="电信",
        )


def _ledger(tmp_path: Path, lines: list[str], encoding: str = "gb18030") -> Path:
    p = tmp_path / "台账.csv"
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return p


def _at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).timestamp())


def test_chinese_ledger_gives_exactly_the_expected_events(
    chdb_store: Store, broker: str, settings: Callable[..., Settings], tmp_path: Path
) -> None:
    _current(chdb_store)
    view = DirectStoreView(chdb_store)
    current = current_inventory(view.current_vms())
    p = plan(_ledger(tmp_path, LEDGER), LedgerMapping(), current, EFFECTIVE)
    got = [(c.vm_id, c.changes, c.event, c.ts) for c in p.changes]
    assert got == [
        ("vm-a", ("resized",), "updated", EFFECTIVE),
        ("vm-b", ("moved",), "updated", _at(2025, 5, 15)),
        ("vm-c", ("deleted",), "deleted", _at(2025, 5, 20)),
        ("vm-e", ("created",), "created", _at(2025, 5, 10, 8, 30)),
    ]
    assert p.absent == []
    moved = describe(p.changes[1])
    assert moved["from"] == {"bureau": "教育局"} and moved["to"] == {"bureau": "卫健委"}
    e = to_event(p.changes[3])
    assert [(d.disk_id, d.size_gb, d.tier) for d in e.disks] == [
        ("vm-e/数据盘", Decimal(500), "standard"),
        ("vm-e/系统盘", Decimal(100), "performance"),
    ]

    s = settings()
    from cloudtally.broker.topics import ensure_topics

    ensure_topics(s)
    with InventoryProducer(s.kafka_bootstrap, s.topic_inventory, source="ledger") as inv:
        for c in p.changes:
            inv.send(to_event(c))
    drain = Drain(s.kafka_bootstrap, s.topic_inventory, chdb_store, inventory=True)
    drain.until_idle()
    drain.close()

    # vm-b's history: 教育局 until the move, 卫健委 from it (owner over time).
    hist = chdb_store.rows(
        "SELECT toUnixTimestamp(event_ts), bureau FROM vm_inventory FINAL "
        "WHERE vm_id = 'vm-b' ORDER BY event_ts"
    )
    assert hist == [(T_OLD, "教育局"), (_at(2025, 5, 15), "卫健委")]
    # The same ledger again: inventory already says all of it.
    again = plan(
        _ledger(tmp_path, LEDGER), LedgerMapping(), current_inventory(view.current_vms()), EFFECTIVE
    )
    assert again.changes == [] and again.absent == []


def test_a_bad_row_rejects_the_file_with_row_column_and_reason(
    chdb_store: Store, tmp_path: Path
) -> None:
    _current(chdb_store)
    current = current_inventory(DirectStoreView(chdb_store).current_vms())
    lines = [
        *LEDGER,
        "vm-f,坏行,民政局,新,池二,电信,八,16,,2025-05-10,,",
        "vm-g,坏行,,新,池二,电信,2,16,数据盘:500:黄金,2025-05-10,,",
        "vm-a,重复,教育局,门户,池一,电信,4,8,,2025-01-01,,",
    ]
    with pytest.raises(LedgerRejected) as err:
        plan(_ledger(tmp_path, lines), LedgerMapping(), current, EFFECTIVE)
    problems = [(p.row, p.column, p.reason) for p in err.value.problems]
    assert problems[0] == (7, "CPU(核)", "not a number: '八'")
    assert (8, "使用单位", "empty") in problems
    assert any(r == 8 and c == "磁盘" and "黄金" in why for r, c, why in problems)
    assert (9, "云主机ID", "duplicate of row 2") in problems
    assert "nothing was applied" in str(err.value)


def test_xlsx_ledger_with_own_headers_and_disk_columns(chdb_store: Store, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["台账 2025年6月"])  # a title row above the header, as ledgers have
    ws.append(
        [
            "实例编号",
            "单位",
            "系统",
            "资源池",
            "服务商",
            "vCPU",
            "内存",
            "系统盘(GB)",
            "数据盘(GB)",
            "数据盘类型",
            "开通时间",
        ]
    )
    ws.append(
        [
            "vm-x",
            "交通局",
            "路网",
            "池一",
            "移动",
            4,
            8.0,
            40,
            200,
            "SSD",
            dt.datetime(2025, 3, 1, 9, 0),
        ]
    )
    ws.append(["vm-y", "交通局", "路网", "池一", "移动", 2, 4, 40, None, None, dt.date(2025, 3, 2)])
    path = tmp_path / "ledger.xlsx"
    wb.save(path)
    mapping = mapping_from_dict(
        {
            "header_row": 2,
            "columns": {"vm_id": "实例编号", "bureau": "单位", "system": "系统", "mem_gb": "内存"},
            "disk_columns": [
                {"id": "sys", "size": "系统盘(GB)", "default_tier": "standard"},
                {"id": "data", "size": "数据盘(GB)", "tier": "数据盘类型"},
            ],
        }
    )
    p = plan(path, mapping, {}, EFFECTIVE)
    assert [(c.vm_id, c.event, c.ts) for c in p.changes] == [
        ("vm-x", "created", _at(2025, 3, 1, 9)),
        ("vm-y", "created", _at(2025, 3, 2)),
    ]
    assert to_event(p.changes[0]).disks[0].tier == "performance"
    assert [d.disk_id for d in to_event(p.changes[1]).disks] == ["vm-y/sys"]


def test_cli_dry_run_prints_the_diff_and_sends_nothing(
    server_store: Store, settings: Callable[..., Settings], tmp_path: Path
) -> None:
    _current(server_store)
    s = settings()
    env: dict[str, Any] = {**os.environ, **s.as_env(), "CLOUDTALLY_MODE": "cluster"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudtally.cli",
            "inventory",
            "import",
            str(_ledger(tmp_path, LEDGER)),
            "--effective",
            "2025-06-01",
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    summary = json.loads(out[-1])
    assert summary == {
        "rows": 5,
        "resized": 1,
        "moved": 1,
        "deleted": 1,
        "created": 1,
        "absent": 0,
        "dry_run": True,
    }
    assert server_store.scalar("SELECT count() FROM vm_inventory FINAL") == 4
