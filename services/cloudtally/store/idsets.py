"""Large IN lists go to the store as data, not as SQL text.

:meth:`cloudtally.store.base.Store.render` passes every parameter through
:func:`spill`: a tuple or set of more than :data:`SPILL_ITEMS` strings is
inserted into ``id_sets`` under a fresh set id and rendered as
``(SELECT id FROM id_sets WHERE set_id = '…')``, so ``vm_id IN %(vms)s`` means
the same whether it names ten VMs or a million, on chDB and on 18.16. Sets are
scratch: partitions (one per day) older than yesterday are dropped at most once
an hour per process.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudtally.store.base import Store

SPILL_ITEMS = 2_000
_last_sweep: dict[int, float] = {}
_sweep_lock = threading.Lock()


class IdSetRef:
    """A set written to ``id_sets``; quote() renders it as the subquery that reads it."""

    def __init__(self, set_id: str) -> None:
        self.set_id = set_id

    def sql(self) -> str:
        return f"(SELECT id FROM id_sets WHERE set_id = '{self.set_id}')"


def spill(store: Store, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not params:
        return params
    out: dict[str, Any] | None = None
    for name, value in params.items():
        if (
            isinstance(value, tuple | set | frozenset)
            and len(value) > SPILL_ITEMS
            and all(isinstance(v, str) for v in value)
        ):
            out = dict(params) if out is None else out
            out[name] = write_set(store, value)
    return params if out is None else out


def write_set(store: Store, ids: Any) -> IdSetRef:
    ref = IdSetRef(uuid.uuid4().hex)
    values = sorted(set(ids))
    today = dt.datetime.now(dt.UTC).date()
    store.insert("id_sets", {"id": values}, constants={"set_id": ref.set_id, "created": today})
    _sweep(store, today)
    return ref


def _sweep(store: Store, today: dt.date) -> None:
    with _sweep_lock:
        if time.monotonic() - _last_sweep.get(id(store), -1e9) < 3600:
            return
        _last_sweep[id(store)] = time.monotonic()
    cutoff = today - dt.timedelta(days=1)
    for (partition,) in store.rows(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
        "AND table = 'id_sets' AND active"
    ):
        text = str(partition).strip("'")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            continue
        if day < cutoff:
            store.execute(f"ALTER TABLE id_sets DROP PARTITION '{day.isoformat()}'")
