"""The kept results are bounded by bytes (CLOUDTALLY_KEPT_RESULTS_MB), least recently used
out, with hit / miss / eviction / bytes metrics (queries/memo.py, queries/sizes.py)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from prometheus_client import REGISTRY

from cloudtally.queries import memo
from cloudtally.queries.sizes import approx_bytes
from cloudtally.settings import Settings


class _Store:  # the memo only needs an object to tell stores apart
    pass


def _sample(name: str, cache: str) -> float:
    return REGISTRY.get_sample_value(name, {"cache": cache}) or 0.0


@dataclasses.dataclass(frozen=True)
class Row:
    vm_id: str
    amount: Decimal
    hours: list[int]


def test_the_weight_grows_with_what_a_value_refers_to() -> None:
    one = [Row(f"vm-{i}", Decimal(i), [i] * 24) for i in range(100)]
    many = [Row(f"vm-{i}", Decimal(i), [i] * 24) for i in range(15_000)]
    assert approx_bytes(b"x" * 10_000) >= 10_000
    assert approx_bytes(one) > 100 * approx_bytes(Row("vm-1", Decimal(1), []))
    # a long list is weighed from a sample: still within a few per cent of 150 x the short
    assert 130 * approx_bytes(one) < approx_bytes(many) < 170 * approx_bytes(one)
    shared = "s" * 5_000
    assert approx_bytes([shared] * 10) < 2 * approx_bytes(shared)  # counted once


def test_least_recently_used_out_by_bytes_with_metrics() -> None:
    kept = memo.Memo(1000, max_bytes=10_000, name="test-bound")
    store = _Store()
    hits0 = _sample("cloudtally_kept_results_hits_total", "test-bound")
    for key in ("a", "b", "c"):
        assert (
            kept.cached(store, key, 1, lambda key=key: key.encode() * 3_000) == key.encode() * 3_000
        )
    assert kept.cached(store, "a", 1, lambda: b"recomputed") == b"a" * 3_000  # a: recent now
    kept.cached(store, "d", 1, lambda: b"d" * 3_000)  # over 10,000 bytes: b goes, not a
    assert kept.peek(store, "b", 1) == (False, None)
    assert kept.peek(store, "a", 1)[0] and kept.peek(store, "c", 1)[0]
    assert kept.bytes <= 10_000 and kept.evictions == 1
    assert _sample("cloudtally_kept_results_evictions_total", "test-bound") == 1
    assert _sample("cloudtally_kept_results_misses_total", "test-bound") == 4
    assert _sample("cloudtally_kept_results_hits_total", "test-bound") >= hits0 + 1
    assert _sample("cloudtally_kept_results_bytes", "test-bound") == kept.bytes
    assert _sample("cloudtally_kept_results_entries", "test-bound") == 3
    # a value bigger than the whole bound is answered, not kept (and pushes nothing out)
    assert kept.cached(store, "huge", 1, lambda: b"h" * 20_000) == b"h" * 20_000
    assert kept.peek(store, "huge", 1) == (False, None) and kept.peek(store, "a", 1)[0]
    # a new stamp replaces the kept value and its weight
    kept.cached(store, "a", 2, lambda: b"A")
    assert kept.peek(store, "a", 2) == (True, b"A") and kept.bytes < 10_000


def test_the_bound_comes_from_the_settings() -> None:
    before = memo.QUERIES.max_bytes, memo.ANSWERS.max_bytes
    try:
        memo.configure(Settings(_env_file=None, kept_results_mb=7))  # type: ignore[call-arg]
        assert memo.QUERIES.max_bytes == memo.ANSWERS.max_bytes == 7 * 2**20
    finally:
        memo.QUERIES.max_bytes, memo.ANSWERS.max_bytes = before
    assert Settings(_env_file=None).kept_results_mb == 128  # type: ignore[call-arg]
