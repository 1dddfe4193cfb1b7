"""Providers' fault reports as they come (Chinese headers, GB18030 CSV, XLSX with Excel
serial dates and text dates, full-width colons, blank cells): bad rows rejected with
reasons and counted, timeliness breaches exactly as planted, and the cross-check with
the planted fleet's metered downtime, on both stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook
from prometheus_client import REGISTRY

from cloudtally.core.policy import load_policy
from cloudtally.evaluation.faults import FaultImportError, fault_report, import_file
from cloudtally.policy import example_policy_text
from cloudtally.store import Store
from tests.evaluation.fleet import E, S, plant

POLICY = load_policy(example_policy_text())
HEADER = [
    "序号", "接报时间", "到场时间", "解决时间", "分析报告提交时间", "故障等级", "影响系统",
    "故障描述",
]  # fmt: skip


def serial(y: int, m: int, d: int, hh: int, mm: int) -> float:
    """Excel's serial day number of a local wall-clock time (a cell not formatted as date)."""
    delta = dt.datetime(y, m, d, hh, mm) - dt.datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400


def rejected_count() -> float:
    return REGISTRY.get_sample_value("cloudtally_fault_rows_total", {"result": "rejected"}) or 0.0


def write_xlsx(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    # F-1: the planted vm-a outage (31 Mar 23:30 – 1 Apr 00:45); on site late (35 min).
    ws.append(
        [
            "F-1",
            serial(2023, 3, 31, 23, 32),
            serial(2023, 4, 1, 0, 7),
            serial(2023, 4, 1, 0, 46),
            "2023/4/3 10:00",
            "重大故障",
            "医保结算",
            "数据库宕机",
        ]
    )
    # F-2: vm-c's 31 Mar 08:00 outage, text times with full-width colons; report blank.
    ws.append(
        [
            "F-2",
            "2023-03-31 08：01",
            "2023-03-31 08：20",
            "2023-03-31 08：21",
            None,
            "重大",
            "社保查询、档案",
            "",
        ]
    )
    # F-3: a fault nobody metered (a network fault outside the VMs).
    ws.append(
        [
            "F-3",
            "2023/3/30 15:00",
            "2023/3/30 15:10",
            "2023/3/30 16:00",
            "2023/3/31 09:00",
            "一般故障",
            "门户网站",
            "链路抖动",
        ]
    )
    ws.append([None] * 8)  # a blank line
    ws.append(["F-4", "", "2023/3/30 15:10", "", "", "重大", "门户", ""])  # no received time
    ws.append(["F-5", "2023/3/30 15:00", "2023/3/30 14:00", "", "", "重大", "门户", ""])
    ws.append(["F-6", "2023/3/30 15:00", "", "", "", "紧急", "门户", ""])  # unknown severity
    ws.append(["F-7", "yesterday", "", "", "", "重大", "门户", ""])
    wb.save(path)  # fmt: skip


def test_xlsx_fault_report_gives_the_planted_breaches_and_cross_check(
    store: Store, tmp_path: Path
) -> None:
    plant(store)
    path = tmp_path / "故障处理报告.xlsx"
    write_xlsx(path)
    before = rejected_count()
    out = import_file(store, POLICY, path, provider="provider-a")
    assert (out["imported"], out["rejected"]) == (3, 4)
    assert rejected_count() - before == 4
    reasons = {r["row"]: (r["column"], r["reason"]) for r in out["rejections"]}
    assert reasons[6] == ("received", "the received time is required")
    assert reasons[7] == ("on_site", "on site is before received")
    assert reasons[8][0] == "severity" and "major" in reasons[8][1]
    assert reasons[9][0] == "received" and "not a date" in reasons[9][1]

    doc = fault_report(store, POLICY, S, E, provider="provider-a", as_of=E + 30 * 86400)
    faults = {f["fault_id"]: f for f in doc["faults"]}
    f1 = {c["check"]: c["status"] for c in faults["F-1"]["checks"]}
    # Resolved Sat 1 Apr 00:46 → 3 working days: Mon 3, Tue 4 (5 Apr is 清明), Thu 6 Apr.
    assert f1 == {"on_site": "breach", "resolved": "ok", "report": "ok"}
    late = next(c for c in faults["F-1"]["checks"] if c["check"] == "on_site")
    assert late["late_s"] == 5 * 60
    f2 = {c["check"]: c["status"] for c in faults["F-2"]["checks"]}
    assert f2 == {"on_site": "ok", "resolved": "ok", "report": "breach"}  # never delivered
    assert faults["F-3"]["severity_key"] == "minor"
    assert [c["check"] for c in faults["F-3"]["checks"]] == ["resolved"]
    assert doc["summary"]["breaches"] == 2

    matched = {m["fault_id"]: {i["vm_id"] for i in m["incidents"]} for m in doc["matched"]}
    assert matched == {"F-1": {"vm-a"}, "F-2": {"vm-c"}}
    assert doc["faults_without_metered_downtime"] == ["F-3"]
    unreported = {(i["vm_id"], i["start"]) for i in doc["metered_downtime_without_report"]}
    # vm-c on 1 Apr 03:00 (10 min) and vm-d (5 min) were never reported.
    assert {vm for vm, _ in unreported} == {"vm-c", "vm-d"}


def test_gb18030_csv_with_english_headers_and_a_file_without_columns(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "faults.csv"
    path.write_bytes(
        "fault id,received,on site,resolved,report,severity,affected systems\n"
        "X-1,2023/3/5 14:05,2023/3/5 14:30,2023/3/5 15:00,2023/3/8 10:00,major,门户\n"
        .encode("gb18030")
    )  # fmt: skip
    out = import_file(store, POLICY, path, provider="provider-b")
    assert (out["imported"], out["rejected"]) == (1, 0)
    bad = tmp_path / "other.csv"
    bad.write_text("名称,金额\n云主机,100\n", encoding="utf-8")
    with pytest.raises(FaultImportError, match="no column for received"):
        import_file(store, POLICY, bad, provider="provider-b")
