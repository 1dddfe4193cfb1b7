"""Providers' per-VM monitoring exports (CSV / XLSX / Parquet) -> samples, whole or not at all.

Two layouts, as providers hand them over:

* ``wide``: one row per VM and time, one column per metric
  (云主机ID, 采集时间, CPU使用率(%), 内存使用率(%));
* ``long``: one row per VM, time and metric (云主机ID, 时间, 指标名称, 指标值),
  with ``metrics`` naming which metric-name values are CPU and memory.

A mapping names the columns (like invoice mappings). Every row is validated
and each problem reported with row, column and reason; one problem rejects the
file. Values may be percentages ("35.2", "35.2%") or fractions (``scale: 100``);
cells in ``missing`` ("", "-", "--", "N/A") are metering gaps: no sample, never 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudtally.core.ledger import RowProblem
from cloudtally.core.localtime import parse_local_time

MISSING = ("", "-", "--", "n/a", "na", "null", "无数据")
METRIC_FIELDS = ("cpu_pct", "mem_pct")


class ExportError(ValueError):
    """The mapping or the file's header is unusable."""


@dataclass(frozen=True)
class ExportMapping:
    source: str
    layout: Literal["wide", "long"] = "wide"
    timezone: str = "Asia/Shanghai"
    columns: Mapping[str, str] = field(default_factory=dict)  # vm_id, ts, cpu_pct, ... metric
    metrics: Mapping[str, str] = field(default_factory=dict)  # long: metric name -> field
    scale: Mapping[str, float] = field(default_factory=dict)  # field -> factor (fraction: 100)
    missing: tuple[str, ...] = MISSING
    sheet: str | None = None
    header_row: int = 1
    encoding: str = "auto"

    @property
    def tz(self) -> dt.tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ExportError(f"unknown time zone {self.timezone!r}") from None


def mapping_from_dict(doc: Any) -> ExportMapping:
    if not isinstance(doc, dict) or not doc.get("source"):
        raise ExportError("an export mapping needs at least 'source' and 'columns'")
    known = {f.name for f in ExportMapping.__dataclass_fields__.values()}
    unknown = set(doc) - known
    if unknown:
        raise ExportError(f"unknown mapping key(s): {sorted(unknown)}; known: {sorted(known)}")
    layout = doc.get("layout", "wide")
    if layout not in ("wide", "long"):
        raise ExportError("layout must be wide or long")
    cols = {str(k): str(v) for k, v in (doc.get("columns") or {}).items()}
    need = ["vm_id", "ts"] + (["metric", "value"] if layout == "long" else list(METRIC_FIELDS))
    if missing := [n for n in need if n not in cols]:
        raise ExportError(f"columns must name {missing} for the {layout} layout")
    metrics = {str(k): str(v) for k, v in (doc.get("metrics") or {}).items()}
    if layout == "long" and set(metrics.values()) != set(METRIC_FIELDS):
        raise ExportError(f"metrics must map a metric name to each of {list(METRIC_FIELDS)}")
    m = ExportMapping(
        source=str(doc["source"]),
        layout=layout,
        timezone=str(doc.get("timezone", "Asia/Shanghai")),
        columns=cols,
        metrics=metrics,
        scale={str(k): float(v) for k, v in (doc.get("scale") or {}).items()},
        missing=tuple(str(x).lower() for x in doc.get("missing", MISSING)),
        sheet=doc.get("sheet"),
        header_row=int(doc.get("header_row", 1)),
        encoding=str(doc.get("encoding", "auto")),
    )
    _ = m.tz
    return m


@dataclass
class ExportRows:
    """Validated samples: one (vm_id, ts) -> {cpu_pct, mem_pct} each."""

    values: dict[tuple[str, int], dict[str, float]]
    gaps: int  # cells that were metering gaps
    problems: list[RowProblem]
    rows: int


def _value(text: str, scale: float) -> float:
    s = text.strip().rstrip("%").strip().replace(",", "")
    v = float(s)
    if not math.isfinite(v):
        raise ValueError(f"not a number: {text!r}")
    v *= scale
    if not 0.0 <= v <= 100.0:
        raise ValueError(f"{text!r} is not a percentage 0-100 (fractions need scale: 100)")
    return v


def parse_export(
    mapping: ExportMapping,
    header: Sequence[str],
    rows: Sequence[tuple[int, Sequence[str]]],
    known_vms: set[str] | None,
) -> ExportRows:
    index = {h.strip(): i for i, h in enumerate(header)}
    for name, col in mapping.columns.items():
        if col not in index:
            raise ExportError(f"column {col!r} (for {name}) is not in the header {list(header)}")
    tz = mapping.tz
    out = ExportRows({}, 0, [], 0)
    seen: dict[tuple[str, int, str], int] = {}

    def get(cells: Sequence[str], name: str) -> str:
        i = index[mapping.columns[name]]
        return cells[i].strip() if i < len(cells) else ""

    for row_no, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        out.rows += 1
        bad: list[RowProblem] = []
        vm = get(cells, "vm_id")
        if not vm:
            bad.append(RowProblem(row_no, mapping.columns["vm_id"], "empty"))
        elif known_vms is not None and vm not in known_vms:
            bad.append(RowProblem(row_no, mapping.columns["vm_id"], f"{vm!r} is not in inventory"))
        ts: int | None = None
        try:
            ts = parse_local_time(get(cells, "ts"), tz)
        except ValueError as exc:
            bad.append(RowProblem(row_no, mapping.columns["ts"], str(exc)))
        if mapping.layout == "wide":
            pairs = [(f, mapping.columns[f], get(cells, f)) for f in METRIC_FIELDS]
        else:
            name = get(cells, "metric")
            target = mapping.metrics.get(name)
            if target is None:
                bad.append(
                    RowProblem(
                        row_no,
                        mapping.columns["metric"],
                        f"metric {name!r} is not one of {sorted(mapping.metrics)}",
                    )
                )
                pairs = []
            else:
                pairs = [(target, mapping.columns["value"], get(cells, "value"))]
        parsed: dict[str, float] = {}
        for f, col, text in pairs:
            if text.lower() in mapping.missing:
                out.gaps += 1
                continue
            try:
                parsed[f] = _value(text, mapping.scale.get(f, 1.0))
            except ValueError as exc:
                reason = str(exc) if "percentage" in str(exc) else f"not a number: {text!r}"
                bad.append(RowProblem(row_no, col, reason))
        if bad or ts is None:
            out.problems.extend(bad)
            continue
        for f, v in parsed.items():
            key = (vm, ts, f)
            if key in seen:
                out.problems.append(
                    RowProblem(
                        row_no,
                        mapping.columns["vm_id"],
                        f"{f} for {vm} at this time already given in row {seen[key]}",
                    )
                )
                continue
            seen[key] = row_no
            out.values.setdefault((vm, ts), {})[f] = v
    return out
