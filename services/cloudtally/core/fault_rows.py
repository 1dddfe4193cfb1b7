"""Rows of a provider's fault report → :class:`~cloudtally.core.faults.FaultReport` (no I/O).

Real layouts: Chinese or English headers in any order (aliases below), times written
``2023/3/5 14:05``, ``2023-03-05 14:05:00``, ``2023年3月5日 14:05``, with full-width
``：`` / ``－`` (as in the seed's 《故障处理报告》), or Excel serial numbers (days since
1899-12-30, local time) when the cell was not formatted as a date; blank cells.
A naive time is in the policy zone.

A row is rejected, with its row number and reason, when: the received time is missing
or unreadable; any other time is unreadable; a time is before the one it follows
(on site, resolved before received; report before resolved); or the severity is not one
the policy knows (its keys or ``fault_severity_aliases``). Nothing else in the file is
lost: the good rows are imported beside the rejections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cloudtally.core.faults import FaultReport, systems_of
from cloudtally.core.localtime import parse_local_time
from cloudtally.core.refusal import BadValue
from cloudtally.core.sla import SlaVersion

ALIASES: dict[str, tuple[str, ...]] = {
    "fault_id": (
        "故障编号", "编号", "序号", "工单号", "工单编号", "事件编号", "fault_id", "fault id", "id",
    ),
    "received": (
        "接报时间", "报障时间", "受理时间", "故障发现时间", "发生时间", "故障时间", "接收时间",
        "received", "received_at", "reported",
    ),
    "on_site": ("到场时间", "到达现场时间", "现场到达时间", "到现场时间", "on_site", "on site"),
    "resolved": (
        "解决时间", "恢复时间", "故障解决时间", "处理完成时间", "故障恢复时间", "resolved",
        "resolved_at",
    ),
    "report_delivered": (
        "分析报告提交时间", "故障分析报告提交时间", "报告提交时间", "报告时间", "分析报告时间",
        "report_delivered", "analysis report", "report",
    ),
    "severity": ("故障等级", "故障级别", "级别", "等级", "严重程度", "severity", "level"),
    "systems": ("影响系统", "受影响系统", "影响业务系统", "涉及系统", "affected_systems",
                "affected systems", "systems"),
    "provider": ("云服务商", "服务商", "provider"),
    "description": ("故障描述", "故障现象", "描述", "备注", "description"),
}  # fmt: skip
REQUIRED = ("received", "severity")
TIME_FIELDS = ("received", "on_site", "resolved", "report_delivered")
EXCEL_EPOCH = dt.date(1899, 12, 30)


class FaultFileError(BadValue):
    """The file cannot be read as a fault report at all (no usable header); a refusal as
    data (``fault.<reason_id>``), told in the reader's language."""


@dataclass(frozen=True)
class Rejection:
    row: int
    column: str
    value: str
    reason: str  # English, as written
    reason_id: str = ""  # the catalogue's fault.<id> (cloudtally.i18n.reasons.fault_reason)
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"row {self.row}: {self.column}: {self.reason} ({self.value!r})"


def _norm(h: str) -> str:
    return re.sub(r"[\s（）()：:*]+", "", h).lower()


def map_header(header: Sequence[str]) -> dict[str, int]:
    """Field → column index; FaultFileError when a required field has no column."""
    wanted = {_norm(a): f for f, names in ALIASES.items() for a in names}
    out: dict[str, int] = {}
    for i, h in enumerate(header):
        f = wanted.get(_norm(h))
        if f is not None and f not in out:
            out[f] = i
    missing = [f for f in REQUIRED if f not in out]
    if missing:
        has, accepted = ", ".join(h for h in header if h), ", ".join(ALIASES[missing[0]][:4])
        raise FaultFileError(
            f"no column for {', '.join(missing)} (headers: {has}; accepted, e.g.: {accepted})",
            "no_column",
            missing=", ".join(missing),
            has=has,
            accepted=accepted,
        )
    return out


_FULL_WIDTH = str.maketrans({"：": ":", "－": "-", "／": "/", "　": " ", "．": "."})


def parse_time(text: str, zone: ZoneInfo) -> int | None:
    """A time cell → epoch seconds; None for a blank cell; ValueError when unreadable."""
    s = text.strip().translate(_FULL_WIDTH)
    if not s or s in ("-", "—", "无", "/", "N/A", "n/a"):
        return None
    if re.fullmatch(r"\d{4,5}(\.\d+)?", s):  # an Excel serial day number
        days = float(s)
        if not 20000 < days < 80000:
            raise BadValue(f"not a date: {text!r}", "not_a_date", value=repr(text))
        d = EXCEL_EPOCH + dt.timedelta(days=int(days))
        secs = round((days - int(days)) * 86400)
        local = dt.datetime(d.year, d.month, d.day, tzinfo=zone) + dt.timedelta(seconds=secs)
        return int(local.timestamp())
    s = re.sub(r"(\d)\s*[时点]\s*(\d{1,2})\s*分?", r"\1:\2", s)
    return parse_local_time(s, zone)


def fault_id_of(provider: str, received: int, systems: tuple[str, ...], severity: str) -> str:
    """A stable id for a row without one: the same fault re-imported gets the same id."""
    key = f"{provider}|{received}|{'/'.join(sorted(systems))}|{severity}"
    return "F-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_rows(
    header: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    provider: str,
    sla: SlaVersion,
    tz: str | ZoneInfo = "Asia/Shanghai",
) -> tuple[list[FaultReport], list[Rejection]]:
    """Good rows as reports, bad ones as rejections (row number in the file, reason)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    cols = map_header(header)
    reports: list[FaultReport] = []
    rejected: list[Rejection] = []
    for n, cells in rows:

        def cell(field: str, cells: Sequence[str] = cells) -> str:
            i = cols.get(field)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        if not any(c.strip() for c in cells):
            continue  # a blank line
        times: dict[str, int | None] = {}
        bad = None
        for f in TIME_FIELDS:
            try:
                times[f] = parse_time(cell(f), zone)
            except ValueError as exc:
                rid, params = getattr(exc, "reason_id", ""), getattr(exc, "params", {})
                bad = Rejection(n, f, cell(f), str(exc), rid, tuple(params.items()))
                break
        if bad is None and times["received"] is None:
            bad = Rejection(n, "received", "", "the received time is required", "no_received")
        if bad is None:
            bad = _order(n, times, cell)
        sev_raw = cell("severity")
        if bad is None and sla.severity(sev_raw) is None:
            known = sorted({*sla.fault_handling, *sla.fault_severity_aliases})
            shown = ", ".join(known)
            bad = Rejection(
                n,
                "severity",
                sev_raw,
                f"unknown severity; the policy knows {shown}",
                "unknown_severity",
                (("known", shown),),
            )
        if bad is not None:
            rejected.append(bad)
            continue
        received = times["received"]
        assert received is not None
        prov = cell("provider") or provider
        systems = systems_of(cell("systems"))
        reports.append(
            FaultReport(
                row=n,
                fault_id=cell("fault_id") or fault_id_of(prov, received, systems, sev_raw),
                provider=prov,
                severity=sev_raw,
                received=received,
                on_site=times["on_site"],
                resolved=times["resolved"],
                report_delivered=times["report_delivered"],
                systems=systems,
                description=cell("description")[:2000],
            )
        )
    return reports, rejected


def _order(n: int, times: dict[str, int | None], cell: object) -> Rejection | None:
    received = times["received"]
    assert received is not None
    for f, after, what in (
        ("on_site", received, "received"),
        ("resolved", received, "received"),
        ("report_delivered", times["resolved"], "resolved"),
    ):
        t = times[f]
        if t is not None and after is not None and t < after:
            shown = dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
            return Rejection(
                n, f, shown, f"{f.replace('_', ' ')} is before {what}", f"{f}_before_{what}"
            )
    return None
