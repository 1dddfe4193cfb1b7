"""VM inventory events: what a VM is, who owns it and what it is allocated.

Each event carries the VM's full state after the event, so the latest event
per vm_id is the current state (the topic is compacted by vm_id) and the
history of events gives allocation over time for billing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cloudtally.core.ids import FORBIDDEN

SCHEMA = "cloudtally.inventory/1"
StorageTier = Literal["performance", "standard", "archive"]
STORAGE_TIERS: tuple[StorageTier, ...] = ("performance", "standard", "archive")


class InventoryRejected(ValueError):
    """The event is unusable; the reason names the field."""


def _no_control(value: str) -> str:
    """The id character rule of core/ids.py (lengths are the fields' own limits)."""
    bad = FORBIDDEN.search(value)
    if bad is not None:
        raise ValueError(f"contains control character U+{ord(bad.group()):04X}")
    return value


class Disk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    disk_id: str = Field(min_length=1, max_length=128)
    size_gb: Decimal = Field(gt=0, max_digits=14, decimal_places=3)
    tier: StorageTier

    _ids = field_validator("disk_id")(_no_control)


class InventoryEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_: Literal["cloudtally.inventory/1"] = Field("cloudtally.inventory/1", alias="schema")
    event: Literal["created", "updated", "deleted"]
    vm_id: str = Field(min_length=1, max_length=128)
    ts: int = Field(ge=946_684_800)
    name: str = Field("", max_length=256)
    bureau: str = Field(min_length=1, max_length=128)
    system: str = Field(min_length=1, max_length=128)
    pool: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    vcpu: int = Field(ge=0, le=4096)
    mem_gb: Decimal = Field(ge=0, le=65536, max_digits=12, decimal_places=3)
    disks: tuple[Disk, ...] = ()

    _ids = field_validator("vm_id", "bureau", "system", "pool", "provider")(_no_control)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(by_alias=True), default=_json_number)


def _json_number(value: Any) -> int | float:
    """Decimals go on the wire as JSON numbers (the schema says number)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def decode_event(raw: bytes) -> InventoryEvent:
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InventoryRejected(f"not valid JSON: {exc}") from None
    try:
        return InventoryEvent.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise InventoryRejected(f"{where}: {first['msg']}") from None
