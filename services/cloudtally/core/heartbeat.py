"""Collector heartbeats: the marker that tells a silent collector from a silent VM.

A collector sends one beat to every samples partition after the samples of a
window (``data_from .. data_until``, inclusive). Kafka keeps per-partition
order and the worker acks after the flush, so a *stored* beat proves that
everything the collector sent before it on that partition is stored too. The
source's watermark is therefore the least over partitions of each partition's
greatest ``data_until``: what the store has, not what was sent (principle 8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

SCHEMA = "cloudtally.heartbeat/1"
_PREFIX = b'{"schema":"' + SCHEMA.encode() + b'"'


class HeartbeatRejected(ValueError):
    """The beat is unusable; the reason names the field."""


@dataclass(frozen=True)
class Heartbeat:
    source: str
    partition: int
    sent_at: int  # wall clock, epoch s
    data_from: int  # first sample time the window covered, epoch s
    data_until: int  # last sample time the window covered (inclusive), epoch s
    samples: int = 0  # samples sent in the window on this partition
    vms: int = 0  # VMs with samples in the window on this partition
    unknown_series: int = 0  # series not in inventory (dead-lettered): whole window, on p0
    errors: int = 0  # failed queries or scrapes in the window (on partition 0's beat)
    # Capacity seen at data_until, for this partition's VMs: (vm_id, vcpu, mem_gb).
    allocation: tuple[tuple[str, float | None, float | None], ...] = ()

    def to_json(self) -> bytes:
        """Schema first, so :func:`is_heartbeat` can tell a beat by its prefix."""
        doc: dict[str, Any] = {"schema": SCHEMA}
        doc.update(self.__dict__)
        doc["allocation"] = [list(a) for a in self.allocation]
        return orjson.dumps(doc)


def is_heartbeat(raw: bytes | None) -> bool:
    """Cheap test on the samples topic (a samples/1 batch starts with its own schema)."""
    return raw is not None and raw.startswith(_PREFIX)


_INT_FIELDS = ("partition", "sent_at", "data_from", "data_until")
_COUNT_FIELDS = ("samples", "vms", "unknown_series", "errors")


def decode_heartbeat(raw: bytes) -> Heartbeat:
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HeartbeatRejected(f"heartbeat is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise HeartbeatRejected(f"heartbeat schema must be {SCHEMA}")
    source = doc.get("source")
    if not isinstance(source, str) or not 0 < len(source) <= 128:
        raise HeartbeatRejected("heartbeat source: a string of 1-128 characters is required")
    values: dict[str, int] = {}
    for name in (*_INT_FIELDS, *_COUNT_FIELDS):
        v = doc.get(name, 0 if name in _COUNT_FIELDS else None)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise HeartbeatRejected(f"heartbeat {name}: a non-negative integer is required")
        values[name] = v
    if values["data_until"] < values["data_from"]:
        raise HeartbeatRejected("heartbeat data_until is before data_from")
    return Heartbeat(source=source, allocation=_allocation(doc.get("allocation", [])), **values)


def _allocation(raw: Any) -> tuple[tuple[str, float | None, float | None], ...]:
    if not isinstance(raw, list):
        raise HeartbeatRejected("heartbeat allocation: a list of [vm_id, vcpu, mem_gb]")
    out = []
    for item in raw:
        ok = isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
        if ok:
            nums = [v for v in item[1:] if v is not None]
            ok = all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e7
                for v in nums
            )
        if not ok:
            raise HeartbeatRejected(f"heartbeat allocation entry {item!r}: [vm_id, vcpu, mem_gb]")
        vcpu, mem = item[1], item[2]
        out.append(
            (item[0], None if vcpu is None else float(vcpu), None if mem is None else float(mem))
        )
    return tuple(out)


def watermark(latest_by_partition: Mapping[int, int], partitions: Iterable[int]) -> int | None:
    """Least over ``partitions`` of the greatest stored ``data_until``; None if one has none.

    A partition without a stored beat means the store cannot vouch for that
    partition yet, so there is no watermark (the collector starts from --from).
    """
    values = []
    for p in partitions:
        v = latest_by_partition.get(p)
        if v is None:
            return None
        values.append(v)
    return min(values) if values else None
