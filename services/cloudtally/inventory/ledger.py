"""``cloudtally inventory import``: read a ledger file, diff it, send inventory events.

Whole or nothing: every row is validated first; one bad row rejects the file
with every problem listed and nothing is sent. The diff (core.ledger) is
against the inventory the *store* has; events carry the VM's full state and
the change's effective time, so owner-over-time reads (core/ownership) give
the old bureau before a move and the new one after.
"""

from __future__ import annotations

import datetime as dt
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
    RowsRejected,
    diff,
    mapping_from_dict,
    parse_rows,
)


class LedgerRejected(RowsRejected, LedgerError):
    """Bad ledger rows: no inventory event was sent."""


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
    from cloudtally.tabular import TableError
    from cloudtally.tabular import read_table as read

    try:
        return read(
            path, sheet=mapping.sheet, encoding=mapping.encoding, header_row=mapping.header_row
        )
    except TableError as exc:
        raise LedgerError(str(exc)) from None


def current_inventory(rows: Sequence[dict[str, Any]]) -> dict[str, CurrentVM]:
    """Current VMs as the API (or queries.inventory) gives them, for the diff."""
    out = {}
    for r in rows:
        last = r["last_change"]
        if isinstance(last, str):
            last = dt.datetime.fromisoformat(last)
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
                LedgerDisk(d["disk_id"], Decimal(str(d["size_gb"])), d["tier"]) for d in r["disks"]
            ),
            deleted=r["last_event"] == "deleted",
            last_change=int(last.timestamp()),
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
