"""``collect file``: provider monitoring exports as providers hand them over.

GB18030 CSV with Chinese headers and local times, a long-layout XLSX with
fractions, a Parquet file with naive timestamps: the same samples from each.
A file with a bad row is rejected whole, every problem with row, column and
reason, and nothing reaches the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from cloudtally.collectors.files import ExportRejected, read_export, run
from cloudtally.collectors.storeview import DirectStoreView
from cloudtally.core.metric_export import mapping_from_dict
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.collectors.realparts import Drain
from tests.collectors.test_prometheus_live import add_inventory

UTC0 = int(dt.datetime(2025, 3, 1, 0, 5, tzinfo=dt.UTC).timestamp())  # 08:05 in Shanghai
WIDE = {
    "source": "ctyun-export",
    "columns": {
        "vm_id": "云主机ID",
        "ts": "采集时间",
        "cpu_pct": "CPU使用率(%)",
        "mem_pct": "内存使用率(%)",
    },
}
WANT = [("vm-1", UTC0, 35.2, 60.0), ("vm-1", UTC0 + 300, 40.0, 61.5), ("vm-2", UTC0, 5.0, 20.0)]


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "监控导出.csv"
    body = ["云主机ID,云主机名称,采集时间,CPU使用率(%),内存使用率(%)", *rows]
    p.write_bytes(("\r\n".join(body) + "\r\n").encode("gb18030"))
    return p


GOOD = [
    "vm-1,门户,2025/3/1 8:05,35.2%,60",
    "vm-1,门户,2025/3/1 8:10,40,61.5",
    "vm-2,办公,2025/3/1 8:05,5.0,20",
    "vm-2,办公,2025/3/1 8:10,--,21",  # a gap: no sample, never zero
]


def _rows(f) -> list[tuple[str, int, float, float]]:  # type: ignore[no-untyped-def]
    s = f.samples
    return [
        (str(v), int(t), round(float(c), 3), round(float(m), 3))
        for v, t, c, m in zip(s.vm_id, s.ts, s.cpu_pct, s.mem_pct, strict=True)
    ]


def test_wide_gb18030_csv_long_xlsx_and_parquet_give_the_same_samples(tmp_path: Path) -> None:
    known = {"vm-1", "vm-2"}
    wide = read_export(_csv(tmp_path, GOOD), mapping_from_dict(WIDE), known)
    assert _rows(wide) == WANT and wide.gaps == 2  # the "--" cell, and vm-2 08:10 is partial

    wb = Workbook()
    ws = wb.active
    ws.append(["实例ID", "时间", "指标名称", "指标值"])
    for vm, t, cpu, mem in [
        ("vm-1", dt.datetime(2025, 3, 1, 8, 5), 0.352, 0.6),
        ("vm-1", dt.datetime(2025, 3, 1, 8, 10), 0.4, 0.615),
        ("vm-2", dt.datetime(2025, 3, 1, 8, 5), 0.05, 0.2),
    ]:
        ws.append([vm, t, "CPU利用率", cpu])
        ws.append([vm, t, "内存利用率", mem])
    xlsx = tmp_path / "export.xlsx"
    wb.save(xlsx)
    long = mapping_from_dict(
        {
            "source": "long",
            "layout": "long",
            "columns": {"vm_id": "实例ID", "ts": "时间", "metric": "指标名称", "value": "指标值"},
            "metrics": {"CPU利用率": "cpu_pct", "内存利用率": "mem_pct"},
            "scale": {"cpu_pct": 100, "mem_pct": 100},
        }
    )
    assert _rows(read_export(xlsx, long, known)) == WANT

    table = pa.table(
        {
            "vm": ["vm-1", "vm-1", "vm-2"],
            "time": pa.array(
                [
                    dt.datetime(2025, 3, 1, 8, 5),
                    dt.datetime(2025, 3, 1, 8, 10),
                    dt.datetime(2025, 3, 1, 8, 5),
                ],
                pa.timestamp("s"),
            ),
            "cpu": [35.2, 40.0, 5.0],
            "mem": [60.0, 61.5, 20.0],
        }
    )
    pq.write_table(table, tmp_path / "export.parquet")
    parquet = mapping_from_dict(
        {
            "source": "pq",
            "columns": {"vm_id": "vm", "ts": "time", "cpu_pct": "cpu", "mem_pct": "mem"},
        }
    )
    assert _rows(read_export(tmp_path / "export.parquet", parquet, known)) == WANT


def test_a_bad_row_rejects_the_file_and_nothing_is_stored(
    chdb_store: Store, broker: str, settings: Callable[..., Settings], tmp_path: Path
) -> None:
    add_inventory(chdb_store, ["vm-1", "vm-2"], 1_700_000_000)
    s = settings()
    view = DirectStoreView(chdb_store)
    bad = [
        *GOOD,
        "vm-3,新,2025/3/1 8:05,1,1",
        "vm-1,门户,2025-02-30 08:00,1,1",
        "vm-1,门户,2025/3/1 8:15,120,1",
        "vm-1,门户,2025/3/1 8:20,abc,1",
    ]
    with pytest.raises(ExportRejected) as err:
        run(s, _csv(tmp_path, bad), mapping_from_dict(WIDE), view=view)
    got = [(p.row, p.column, p.reason) for p in err.value.problems]
    assert got[0] == (6, "云主机ID", "'vm-3' is not in inventory")
    assert got[1][:2] == (7, "采集时间") and "2025-02-30" in got[1][2]
    assert got[2][:2] == (8, "CPU使用率(%)") and "not a percentage" in got[2][2]
    assert got[3] == (9, "CPU使用率(%)", "not a number: 'abc'")

    stats = run(s, _csv(tmp_path, GOOD), mapping_from_dict(WIDE), view=DirectStoreView(chdb_store))
    assert stats == {"rows": 4, "samples": 3, "gaps": 2}
    drain = Drain(s.kafka_bootstrap, s.topic_samples, chdb_store)
    drain.until_idle()
    drain.close()
    rows = chdb_store.rows(
        "SELECT vm_id, toUnixTimestamp(ts), round(cpu_pct, 3), round(mem_pct, 3), source "
        "FROM samples FINAL ORDER BY vm_id, ts"
    )
    assert [r[:4] for r in rows] == WANT  # the rejected file sent nothing
    assert {r[4] for r in rows} == {"file:ctyun-export"}
