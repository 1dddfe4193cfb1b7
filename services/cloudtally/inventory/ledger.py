"""``cloudtally inventory import``: read a ledger file, diff it, send inventory events.

Whole or nothing: every row is validated first; one bad row rejects the file
with every problem listed and nothing is sent. The diff (core.ledger) is
against the inventory the *store* has; events carry the VM's full state and
the change's effective time, so owner-over-time reads (core/ownership) give
the old bureau before a move and the new one after.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cloudtally.core.inventory import InventoryEvent
from cloudtally.core.ledger import (
    CurrentVM,
    LedgerChange,
    LedgerDisk,
    LedgerError,
    LedgerMapping,
    RowProblem,
    diff,
    mapping_from_dict,
    parse_rows,
)


class LedgerRejected(LedgerError):
    def __init__(self, problems: list[RowProblem], rows: int) -> None:
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"{len(problems)} problem(s) in {rows} rows; nothing was applied: {shown}{more}"
        )
        self.problems = problems


@dataclass
class LedgerPlan:
    changes: list[LedgerChange]
    absent: list[str]  # current VMs the ledger does not list
    rows: int

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            for k in c.changes:
                out[k] = out.get(k, 0) + 1
        out["absent"] = len(self.absent)
        return out


def load_mapping(path: Path | None) -> LedgerMapping:
    if path is None:
        return LedgerMapping()
    try:
        return mapping_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise LedgerError(f"{path}: {exc}") from None


def read_table(path: Path, mapping: LedgerMapping) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (row number, cells) of a CSV (UTF-8 / GB18030) or XLSX ledger."""
    if not path.is_file():
        raise LedgerError(f"no such file: {path}")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _xlsx(path, mapping.sheet)
    else:
        rows = _csv(path.read_bytes(), mapping.encoding)
    h = mapping.header_row
    if len(rows) < h:
        raise LedgerError("the file has no header row")
    return rows[h - 1], [(i + 1, r) for i, r in enumerate(rows) if i >= h]


def _csv(data: bytes, encoding: str) -> list[list[str]]:
    from cloudtally.core.invoice import InvoiceError, detect_encoding

    if not data.strip():
        raise LedgerError("the file is empty")
    try:
        enc = encoding if encoding != "auto" else detect_encoding(data[:65536])
    except InvoiceError as exc:
        raise LedgerError(str(exc)) from None
    if enc in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        raise LedgerError(f"not valid {enc} text at byte {exc.start}") from None
    sample = text[:4096]
    delim = "\t" if sample.count("\t") > sample.count(",") else ","
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim)]


def _xlsx(path: Path, sheet: str | None) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        raise LedgerError(f"not a readable XLSX workbook: {exc}") from None
    try:
        if sheet and sheet not in wb.sheetnames:
            raise LedgerError(f"sheet {sheet!r} not found; the workbook has {wb.sheetnames}")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def current_inventory(rows: Sequence[dict[str, Any]]) -> dict[str, CurrentVM]:
    out = {}
    for r in rows:
        last = r["last_change"]
        out[r["vm_id"]] = CurrentVM(
            vm_id=r["vm_id"],
            name=r["name"],
            bureau=r["bureau"],
            system=r["system"],
            pool=r["pool"],
            provider=r["provider"],
            vcpu=int(r["vcpu"]),
            mem_gb=Decimal(str(r["mem_gb"])),
            disks=tuple(
                LedgerDisk(d, Decimal(str(s)), t)
                for d, s, t in zip(r["disk_ids"], r["disk_size_gb"], r["disk_tiers"], strict=True)
            ),
            deleted=r["last_event"] == "deleted",
            last_change=int(last.timestamp()) if hasattr(last, "timestamp") else int(last),
        )
    return out


def plan(
    path: Path,
    mapping: LedgerMapping,
    current: dict[str, CurrentVM],
    effective: int,
    *,
    delete_absent: bool = False,
) -> LedgerPlan:
    header, rows = read_table(path, mapping)
    vms, problems = parse_rows(mapping, header, rows)
    if problems:
        raise LedgerRejected(problems, len(rows))
    changes, absent = diff(vms, current, effective, delete_absent=delete_absent)
    return LedgerPlan(changes, absent, len(rows))


def to_event(c: LedgerChange) -> InventoryEvent:
    a = c.after
    return InventoryEvent.model_validate(
        {
            "event": c.event,
            "vm_id": c.vm_id,
            "ts": c.ts,
            "name": a["name"],
            "bureau": a["bureau"],
            "system": a["system"],
            "pool": a["pool"],
            "provider": a["provider"],
            "vcpu": a["vcpu"],
            "mem_gb": a["mem_gb"],
            "disks": [{"disk_id": d, "size_gb": s, "tier": t} for d, s, t in a["disks"]],
        }
    )


def describe(c: LedgerChange) -> dict[str, Any]:
    """One diff line for --dry-run and the report."""
    when = dt.datetime.fromtimestamp(c.ts, dt.UTC).isoformat()
    out: dict[str, Any] = {"vm_id": c.vm_id, "changes": list(c.changes), "at": when, "row": c.row}
    if c.before is not None:
        out["from"] = {k: str(v) for k, v in c.before.items() if c.after[k] != v}
        out["to"] = {k: str(c.after[k]) for k in out["from"]}
    return out
