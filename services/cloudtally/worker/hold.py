"""Backpressure on a store that cannot be written: hold the batch, never ack it unwritten.

Faust's ``take_events`` acks a batch in a ``finally`` once the agent's body
returns *or raises*, and an agent that raises is restarted inside the process
with the consumer's fetch position past the failed batch. So a write that
gives up loses the batch. Instead the agent awaits :func:`write_until_stored`,
which retries for as long as the store is down (capped backoff): the body does
not return, the batch is not acked, its offsets are not committed, and Faust's
bounded stream buffer (``stream_buffer_maxsize``) pauses the partitions so
memory stays bounded while it waits.

On stop (SIGTERM) the hold ends with CancelledError. The batch's messages are
shielded from every ack and from commits from the moment they are taken until
they are written (worker/held_offsets.py: Faust's own stream stop acked a held
batch before the body ended), so the next owner of the partition re-reads them
from the last commit. The app runs with ``stream_wait_empty=False`` because
Faust's stop otherwise waits for every message it has taken to be acked, which a
held batch never is. A rebalance does not end the hold: the batch is written when
the store returns (if the partition moved meanwhile, its new owner writes it too,
and the store's keys collapse the copies). Checked against the real Faust in
tests/faults/test_store_outage.py and tests/worker/test_held_offsets.py.

``STORE_GATE`` is what ``/readyz`` and the metrics read: which stages hold a
batch, since when, and why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cloudtally import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def backoff(attempt: int, cap_s: float) -> float:
    """Delay before retry ``attempt`` (0-based): the fixed ladder, then the cap, forever."""
    return min(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)], cap_s)


@dataclass
class Hold:
    """One stage (samples, inventory, startup) waiting for the store."""

    stage: str
    since: float  # unix time of the first failure of this batch
    attempts: int = 0
    reason: str = ""
    unavailable: bool = False  # past the retry budget: readiness says not ready


class StoreGate:
    """Process-wide record of stages held back by an unwritable store (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}

    def failed(self, stage: str, exc: BaseException, budget_s: float) -> Hold:
        now = time.time()
        with self._lock:
            hold = self._holds.setdefault(stage, Hold(stage, since=now))
            hold.attempts += 1
            hold.reason = f"{type(exc).__name__}: {exc}"[:300]
            hold.unavailable = now - hold.since >= budget_s
        self._export()
        return hold

    def stored(self, stage: str) -> Hold | None:
        with self._lock:
            hold = self._holds.pop(stage, None)
        self._export()
        return hold

    def holds(self) -> list[Hold]:
        with self._lock:
            return [Hold(**vars(h)) for h in self._holds.values()]

    def unavailable(self) -> list[Hold]:
        """Stages held past the retry budget: the store is declared unavailable."""
        return [h for h in self.holds() if h.unavailable]

    def refresh(self) -> None:
        """Update the held-seconds gauges (called by a timer while holding)."""
        self._export()

    def _export(self) -> None:
        now = time.time()
        holds = self.holds()
        held = {h.stage for h in holds}
        for stage in ("samples", "inventory", "startup"):
            if stage not in held:
                metrics.STORE_HELD_SECONDS.labels(stage).set(0)
                metrics.STORE_HELD_BATCHES.labels(stage).set(0)
        for h in holds:
            metrics.STORE_HELD_SECONDS.labels(h.stage).set(now - h.since)
            metrics.STORE_HELD_BATCHES.labels(h.stage).set(0 if h.stage == "startup" else 1)
        metrics.STORE_UNAVAILABLE.set(1 if any(h.unavailable for h in holds) else 0)


STORE_GATE = StoreGate()


async def write_until_stored(
    fn: Callable[[], T],
    stage: str,
    *,
    budget_s: float,
    max_delay_s: float,
    gate: StoreGate = STORE_GATE,
    stopping: Callable[[], bool] = lambda: False,
) -> T:
    """Run the blocking write ``fn`` in a thread until it succeeds, however long that takes.

    Every failure is counted (``cloudtally_ingest_errors_total``); once the first
    failure of this batch is older than ``budget_s`` the store is declared
    unavailable (``/readyz`` 503 with the reason, ``cloudtally_store_unavailable``),
    and the batch is still held and retried every ``max_delay_s`` at most.

    When the worker stops (``stopping()``) while the batch is unwritten, the hold
    ends with CancelledError (the batch stays unacknowledged, worker/held_offsets.py):
    Faust's shutdown waits for every taken message to be acked before it stops, so
    holding on would keep a SIGTERM from ever finishing.
    """
    attempt = 0
    while True:
        try:
            result = await asyncio.to_thread(fn)
        except Exception as exc:
            metrics.INGEST_ERRORS.labels(stage).inc()
            hold = gate.failed(stage, exc, budget_s)
            delay = backoff(attempt, max_delay_s)
            held_s = time.time() - hold.since
            if hold.unavailable:
                log.error(
                    "store unavailable: %s batch held %.0fs (attempt %d, %s); retrying in %ss, "
                    "nothing is acknowledged until it is written",
                    stage,
                    held_s,
                    hold.attempts,
                    hold.reason,
                    delay,
                )
            else:
                log.warning(
                    "%s flush failed (attempt %d, %s); retrying in %ss",
                    stage,
                    hold.attempts,
                    hold.reason,
                    delay,
                )
            attempt += 1
            if await _sleep_unless(stopping, delay):
                gate.stored(stage)
                log.warning("stopping while the store is down: %s batch left for redelivery", stage)
                raise asyncio.CancelledError from None
            continue
        hold = gate.stored(stage)
        if hold is not None:
            log.warning(
                "store writable again: %s batch written after %.1fs and %d failed attempts",
                stage,
                time.time() - hold.since,
                hold.attempts,
            )
        return result


async def _sleep_unless(stopping: Callable[[], bool], delay: float) -> bool:
    """Sleep ``delay`` seconds in short steps; True as soon as ``stopping()`` is."""
    end = time.monotonic() + delay
    while not stopping():
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.25))
    return True


def wait_for_store(
    open_fn: Callable[[], T],
    *,
    budget_s: float,
    max_delay_s: float,
    gate: StoreGate = STORE_GATE,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Open (and migrate) the store at start, waiting for as long as it is down."""
    attempt = 0
    while True:
        try:
            result = open_fn()
        except Exception as exc:
            hold = gate.failed("startup", exc, budget_s)
            delay = backoff(attempt, max_delay_s)
            log.warning(
                "store not reachable at start (attempt %d, %s); waiting %ss",
                hold.attempts,
                hold.reason,
                delay,
            )
            attempt += 1
            sleep(delay)
            continue
        if gate.stored("startup") is not None:
            log.warning("store reachable: starting to consume")
        return result
