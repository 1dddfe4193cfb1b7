"""The buyer's resource ledger (资源台账): rows -> VMs, and the diff against inventory.

A ledger is a spreadsheet of VMs per bureau and system, with the buyer's own
headers. A mapping names the header of each field (defaults: common Chinese
headers and English aliases). Every row is validated (row, column, reason);
the diff against current inventory gives created / resized / moved / updated /
deleted changes, each with the effective time it applies from, so a VM that
moves bureau keeps its history with its old bureau (principle 7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cloudtally.core.localtime import SHANGHAI, parse_local_time

FIELDS = (
    "vm_id",
    "name",
    "bureau",
    "system",
    "pool",
    "provider",
    "vcpu",
    "mem_gb",
    "disks",
    "created",
    "deleted",
    "changed_at",
)
REQUIRED = ("vm_id", "bureau", "system", "pool", "provider", "vcpu", "mem_gb")
# Headers tried when the mapping names none for a field (first match wins).
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "vm_id": ("云主机ID", "虚拟机ID", "实例ID", "资源ID", "vm_id", "VM ID"),
    "name": ("云主机名称", "虚拟机名称", "实例名称", "主机名", "name"),
    "bureau": ("使用单位", "所属单位", "单位名称", "部门", "bureau"),
    "system": ("业务系统", "应用系统", "系统名称", "system"),
    "pool": ("资源池", "pool"),
    "provider": ("云服务商", "服务商", "供应商", "provider"),
    "vcpu": ("CPU(核)", "CPU（核）", "vCPU", "CPU核数", "vcpu"),
    "mem_gb": ("内存(GB)", "内存（GB）", "内存", "mem_gb"),
    "disks": ("磁盘", "云硬盘", "存储", "disks"),
    "created": ("开通日期", "创建日期", "开通时间", "created"),
    "deleted": ("销毁日期", "释放日期", "回收日期", "deleted"),
    "changed_at": ("变更日期", "变更时间", "changed_at"),
}
DEFAULT_TIERS: dict[str, str] = {
    "performance": "performance",
    "ssd": "performance",
    "高性能": "performance",
    "超高io": "performance",
    "standard": "standard",
    "普通": "standard",
    "标准": "standard",
    "高io": "standard",
    "archive": "archive",
    "归档": "archive",
    "容量型": "archive",
}

Change = Literal["created", "resized", "moved", "updated", "deleted"]


class LedgerError(ValueError):
    """The file or its mapping cannot be read at all."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based row number in the file (the header is row ``header_row``)
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.reason}"


class RowsRejected(ValueError):
    """A file with bad rows, rejected whole; ``problems`` lists every one."""

    outcome = "nothing was applied"

    def __init__(self, problems: list[RowProblem], rows: int) -> None:
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"{len(problems)} problem(s) in {rows} rows; {self.outcome}: {shown}{more}"
        )
        self.problems = problems


@dataclass(frozen=True)
class LedgerDisk:
    disk_id: str
    size_gb: Decimal
    tier: str


@dataclass(frozen=True)
class VMState:
    """What the ledger and inventory both say of a VM (the fields the diff compares)."""

    vm_id: str
    name: str
    bureau: str
    system: str
    pool: str
    provider: str
    vcpu: int
    mem_gb: Decimal
    disks: tuple[LedgerDisk, ...]


@dataclass(frozen=True)
class LedgerVM(VMState):
    row: int
    created: int | None  # epoch s
    deleted: int | None
    changed_at: int | None


@dataclass(frozen=True)
class DiskColumns:
    """A disk in fixed columns (系统盘(GB) / 系统盘类型 ...)."""

    disk_id: str
    size: str
    tier: str | None = None
    default_tier: str = "standard"


@dataclass(frozen=True)
class LedgerMapping:
    headers: Mapping[str, str] = field(default_factory=dict)  # field -> header
    disk_columns: tuple[DiskColumns, ...] = ()
    tiers: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None
    header_row: int = 1
    encoding: str = "auto"

    def tier(self, text: str) -> str | None:
        key = text.strip().lower()
        return {**DEFAULT_TIERS, **{k.lower(): v for k, v in self.tiers.items()}}.get(key)


def mapping_from_dict(doc: Any) -> LedgerMapping:
    if doc is None:
        return LedgerMapping()
    if not isinstance(doc, dict):
        raise LedgerError("a ledger mapping is a mapping of keys (columns, disk_columns, tiers)")
    unknown = set(doc) - {"columns", "disk_columns", "tiers", "sheet", "header_row", "encoding"}
    if unknown:
        raise LedgerError(f"unknown mapping key(s): {sorted(unknown)}")
    cols = doc.get("columns") or {}
    bad = set(cols) - set(FIELDS)
    if bad:
        raise LedgerError(f"unknown field(s) in columns: {sorted(bad)}; known: {list(FIELDS)}")
    disks = tuple(
        DiskColumns(
            disk_id=str(d["id"]),
            size=str(d["size"]),
            tier=d.get("tier"),
            default_tier=str(d.get("default_tier", "standard")),
        )
        for d in doc.get("disk_columns") or []
    )
    return LedgerMapping(
        headers={str(k): str(v) for k, v in cols.items()},
        disk_columns=disks,
        tiers={str(k): str(v) for k, v in (doc.get("tiers") or {}).items()},
        sheet=doc.get("sheet"),
        header_row=int(doc.get("header_row", 1)),
        encoding=str(doc.get("encoding", "auto")),
    )


def _norm(h: str) -> str:
    return re.sub(r"\s+", "", h).replace("（", "(").replace("）", ")").lower()


def resolve_columns(mapping: LedgerMapping, header: Sequence[str]) -> dict[str, int]:
    """Field -> column index; a named header that is missing is an error."""
    index = {_norm(h): i for i, h in enumerate(header) if h.strip()}
    out: dict[str, int] = {}
    for name in FIELDS:
        wanted = mapping.headers.get(name)
        if wanted is not None:
            if _norm(wanted) not in index:
                raise LedgerError(f"column {wanted!r} (for {name}) is not in the header")
            out[name] = index[_norm(wanted)]
            continue
        for alias in DEFAULT_HEADERS[name]:
            if _norm(alias) in index:
                out[name] = index[_norm(alias)]
                break
    needed = [n for n in REQUIRED if n not in out]
    if needed:
        raise LedgerError(
            f"no column for {needed}; the header has {[h for h in header if h]}: "
            "name them under 'columns' in the mapping"
        )
    for d in mapping.disk_columns:
        for h in (d.size, d.tier):
            if h is not None and _norm(h) not in index:
                raise LedgerError(f"disk column {h!r} is not in the header")
    return out


def parse_time(text: str) -> int:
    """A date or date-time cell; naive means Asia/Shanghai (the ledger's local time)."""
    return parse_local_time(text, SHANGHAI)


def _decimal(text: str) -> Decimal:
    s = re.sub(r"(?i)\s*(gb|g|gib)$", "", text.strip().replace(",", ""))
    try:
        v = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not v.is_finite():
        raise ValueError(f"not a number: {text!r}")
    return v


def _disk_list(text: str, vm_id: str, mapping: LedgerMapping) -> list[LedgerDisk]:
    """``系统盘:100:高性能; 数据盘:500:标准`` (id:size:tier; id optional)."""
    out = []
    for n, part in enumerate(re.split(r"[;；\n]+", text)):
        part = part.strip()
        if not part:
            continue
        bits = [b.strip() for b in re.split(r"[:：]", part)]
        if len(bits) == 2:
            bits = [f"disk{n + 1}", *bits]
        if len(bits) != 3:
            raise ValueError(f"disk {part!r}: write id:size_gb:tier (e.g. 数据盘:500:标准)")
        tier = mapping.tier(bits[2])
        if tier is None:
            raise ValueError(f"disk {part!r}: unknown storage tier {bits[2]!r}")
        out.append(LedgerDisk(f"{vm_id}/{bits[0]}", _positive(bits[1]), tier))
    return out


def _positive(text: str) -> Decimal:
    v = _decimal(text)
    if v <= 0:
        raise ValueError(f"must be positive, got {text!r}")
    return v


def parse_rows(
    mapping: LedgerMapping, header: Sequence[str], rows: Sequence[tuple[int, Sequence[str]]]
) -> tuple[list[LedgerVM], list[RowProblem]]:
    """Validate every row; the file is usable only if the problem list is empty."""
    reader = _RowReader(mapping, header)
    vms: list[LedgerVM] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for row_no, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank line between blocks
        vm, bad = reader.read(row_no, cells)
        if vm is not None and vm.vm_id in seen:
            bad.append(
                RowProblem(row_no, reader.names["vm_id"], f"duplicate of row {seen[vm.vm_id]}")
            )
        if bad or vm is None:
            problems.extend(bad)
            continue
        seen[vm.vm_id] = row_no
        vms.append(vm)
    return vms, problems


class _RowReader:
    """One row's cells -> a LedgerVM or the row's problems (all of them, not the first)."""

    def __init__(self, mapping: LedgerMapping, header: Sequence[str]) -> None:
        self.mapping = mapping
        self.cols = resolve_columns(mapping, header)
        self.index = {_norm(h): i for i, h in enumerate(header) if h.strip()}
        self.names = {f: header[i] for f, i in self.cols.items()}

    def _at(self, cells: Sequence[str], header: str | None) -> str:
        if header is None:
            return ""
        i = self.index[_norm(header)]
        return cells[i].strip() if i < len(cells) else ""

    def read(self, row_no: int, cells: Sequence[str]) -> tuple[LedgerVM | None, list[RowProblem]]:
        bad: list[RowProblem] = []

        def cell(name: str) -> str:
            i = self.cols.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        def check(name: str, fn: Any, text: str) -> Any:
            if not text:
                return None
            try:
                return fn(text)
            except (ValueError, ArithmeticError) as exc:
                bad.append(RowProblem(row_no, self.names.get(name, name), str(exc)))
                return None

        for name in REQUIRED:
            if not cell(name):
                bad.append(RowProblem(row_no, self.names[name], "empty"))
        vm_id = cell("vm_id")
        if len(vm_id) > 128:
            bad.append(RowProblem(row_no, self.names["vm_id"], "longer than 128 characters"))
        vcpu = check("vcpu", _vcpu, cell("vcpu"))
        mem = check("mem_gb", _mem, cell("mem_gb"))
        disks: list[LedgerDisk] = list(
            check("disks", lambda t: _disk_list(t, vm_id, self.mapping), cell("disks")) or []
        )
        for d in self.mapping.disk_columns:
            size = self._at(cells, d.size)
            if not size or size in ("0", "-"):
                continue
            tier_text = self._at(cells, d.tier)
            tier = self.mapping.tier(tier_text) if tier_text else d.default_tier
            if tier is None:
                bad.append(RowProblem(row_no, d.tier or d.size, f"unknown tier {tier_text!r}"))
                continue
            gb = check("disks", _positive, size)
            if gb is not None:
                disks.append(LedgerDisk(f"{vm_id}/{d.disk_id}", gb, tier))
        times = {n: check(n, parse_time, cell(n)) for n in ("created", "deleted", "changed_at")}
        if times["created"] and times["deleted"] and times["deleted"] < times["created"]:
            bad.append(RowProblem(row_no, self.names["deleted"], "before the created date"))
        if bad or vcpu is None or mem is None:
            return None, bad
        vm = LedgerVM(
            row=row_no,
            vm_id=vm_id,
            name=cell("name"),
            bureau=cell("bureau"),
            system=cell("system"),
            pool=cell("pool"),
            provider=cell("provider"),
            vcpu=int(vcpu),
            mem_gb=mem,
            disks=tuple(disks),
            created=times["created"],
            deleted=times["deleted"],
            changed_at=times["changed_at"],
        )
        return vm, bad


def _vcpu(text: str) -> int:
    v = _decimal(text)
    if v != v.to_integral_value() or not 1 <= v <= 4096:
        raise ValueError(f"vCPU must be a whole number 1-4096, got {text!r}")
    return int(v)


def _mem(text: str) -> Decimal:
    v = _positive(text)
    if v > 65536 or v != round(v, 3):
        raise ValueError(f"memory must be 0-65536 GB with at most 3 decimals, got {text!r}")
    return v


# ------------------------------------------------------------------ diff


@dataclass(frozen=True)
class CurrentVM(VMState):
    """A VM's latest state in inventory (queries.inventory.CURRENT_VMS)."""

    deleted: bool
    last_change: int


@dataclass(frozen=True)
class LedgerChange:
    vm_id: str
    changes: tuple[Change, ...]  # e.g. ("moved", "resized")
    event: Literal["created", "updated", "deleted"]  # the inventory event to send
    ts: int  # effective time
    row: int | None
    before: dict[str, Any] | None
    after: dict[str, Any]


def _state(v: VMState) -> dict[str, Any]:
    return {
        "name": v.name,
        "bureau": v.bureau,
        "system": v.system,
        "pool": v.pool,
        "provider": v.provider,
        "vcpu": v.vcpu,
        "mem_gb": v.mem_gb,
        "disks": sorted((d.disk_id, d.size_gb, d.tier) for d in v.disks),
    }


def diff(
    ledger: Sequence[LedgerVM],
    current: Mapping[str, CurrentVM],
    effective: int,
    *,
    delete_absent: bool = False,
) -> tuple[list[LedgerChange], list[str]]:
    """Changes that bring inventory to the ledger; plus current VMs the ledger lacks.

    A change applies from the row's changed_at (else ``effective``, the
    ledger's as-of time); a creation from its created date; a deletion from its
    deleted date. Never earlier than the VM's last recorded change: history
    already recorded is not rewritten by a later ledger.
    """
    out: list[LedgerChange] = []
    listed = set()
    for v in ledger:
        listed.add(v.vm_id)
        after = _state(v)
        cur = current.get(v.vm_id)
        if cur is None or cur.deleted:
            if cur is not None and v.deleted is not None:
                continue  # deleted in both
            ts = v.created if v.created is not None else effective
            if cur is not None:  # re-created after a deletion: after that deletion
                ts = max(ts, cur.last_change + 1)
            out.append(LedgerChange(v.vm_id, ("created",), "created", ts, v.row, None, after))
            if v.deleted is not None:
                gone = max(v.deleted, ts + 1)
                out.append(LedgerChange(v.vm_id, ("deleted",), "deleted", gone, v.row, None, after))
            continue
        before = _state(cur)
        kinds: list[Change] = []
        if before["bureau"] != after["bureau"]:
            kinds.append("moved")
        if any(before[k] != after[k] for k in ("vcpu", "mem_gb", "disks")):
            kinds.append("resized")
        if any(before[k] != after[k] for k in ("name", "system", "pool", "provider")):
            kinds.append("updated")
        floor = cur.last_change + 1
        if kinds:
            ts = max(v.changed_at if v.changed_at is not None else effective, floor)
            out.append(LedgerChange(v.vm_id, tuple(kinds), "updated", ts, v.row, before, after))
            floor = ts + 1
        if v.deleted is not None:
            out.append(
                LedgerChange(
                    v.vm_id, ("deleted",), "deleted", max(v.deleted, floor), v.row, before, after
                )
            )
    absent = sorted(k for k, c in current.items() if not c.deleted and k not in listed)
    if delete_absent:
        for vm_id in absent:
            cur = current[vm_id]
            st = _state(cur)
            ts = max(effective, cur.last_change + 1)
            out.append(LedgerChange(vm_id, ("deleted",), "deleted", ts, None, st, st))
    return out, absent
