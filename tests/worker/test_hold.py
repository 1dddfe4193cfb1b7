"""The store gate: a failing write is held and retried until it succeeds, never given up."""

from __future__ import annotations

import asyncio
import concurrent.futures

from cloudtally import metrics
from cloudtally.worker.hold import StoreGate, backoff, wait_for_store, write_until_stored


def test_backoff_climbs_the_ladder_then_stays_at_the_cap() -> None:
    assert [backoff(i, 30) for i in range(8)] == [0.5, 1, 2, 5, 10, 30, 30, 30]
    assert [backoff(i, 2) for i in range(4)] == [0.5, 1, 2, 2]


def test_a_write_failing_past_the_budget_is_held_then_written() -> None:
    gate = StoreGate()
    calls: list[int] = []
    seen: list[tuple[bool, float]] = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 30:  # far more failures than the old retry ladder allowed
            held = gate.holds()
            seen.append(
                (bool(held and held[0].unavailable), metrics.STORE_UNAVAILABLE._value.get())
            )
            raise ConnectionRefusedError("store down")
        return "written"

    # In a thread of its own: a browser test's session fixture may hold a running loop here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(
            asyncio.run,
            write_until_stored(write, "samples", budget_s=0.05, max_delay_s=0.01, gate=gate),
        ).result()
    assert result == "written" and len(calls) == 30
    assert seen[-1] == (True, 1.0)  # declared unavailable once past the budget
    assert gate.holds() == []  # and cleared once written
    assert metrics.STORE_UNAVAILABLE._value.get() == 0
    assert metrics.STORE_HELD_BATCHES.labels("samples")._value.get() == 0


def test_the_store_down_at_start_is_waited_for() -> None:
    gate, attempts = StoreGate(), []

    def open_store() -> str:
        attempts.append(1)
        if len(attempts) < 5:
            raise OSError("connection refused")
        return "store"

    waited: list[float] = []
    assert (
        wait_for_store(open_store, budget_s=1, max_delay_s=1, gate=gate, sleep=waited.append)
        == "store"
    )
    assert waited == [0.5, 1, 1, 1] and gate.holds() == []
