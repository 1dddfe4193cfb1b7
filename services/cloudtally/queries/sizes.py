"""About how many bytes of memory a kept value holds (:mod:`cloudtally.queries.memo`).

Why: the kept results are bounded by memory (``CLOUDTALLY_KEPT_RESULTS_MB``), not by
their number — one is a province's 15,000 per-VM figures, the next a pool's scorecard.
``sys.getsizeof`` counts one object, not what it refers to; this walks lists, tuples,
sets, dicts, dataclasses and objects' ``__dict__``/``__slots__``, each object once. A
long list is weighed from an even sample of its items (their sizes are alike: rows of
one query), so weighing a 15,000-row result costs about as much as weighing 64 rows.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

SAMPLE = 64  # items weighed of a longer list or tuple (the rest estimated from them)
ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), memoryview)


def approx_bytes(value: Any) -> int:
    """Bytes held by ``value`` and what it refers to (shared objects counted once)."""
    seen: set[int] = set()
    return _weigh(value, seen, 0)


def _weigh(value: Any, seen: set[int], depth: int) -> int:
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value, 64)
    if isinstance(value, ATOMS) or depth > 12:
        return size
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
        return size + _many(items, seen, depth)
    if isinstance(value, list | tuple | set | frozenset):
        return size + _many(list(value), seen, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [getattr(value, f.name, None) for f in dataclasses.fields(value)]
        return size + _many(fields, seen, depth)
    inner = getattr(value, "__dict__", None)
    if isinstance(inner, dict):
        return size + _weigh(inner, seen, depth + 1)
    slots = getattr(type(value), "__slots__", ())
    if slots:
        names = [slots] if isinstance(slots, str) else list(slots)
        return size + _many([getattr(value, n, None) for n in names], seen, depth)
    return size  # numpy arrays, Decimals, dates: getsizeof counts their own data


def _many(items: list[Any], seen: set[int], depth: int) -> int:
    if len(items) <= SAMPLE:
        return sum(_weigh(v, seen, depth + 1) for v in items)
    step = len(items) / SAMPLE
    sample = [items[int(i * step)] for i in range(SAMPLE)]
    return int(sum(_weigh(v, seen, depth + 1) for v in sample) * len(items) / SAMPLE)
