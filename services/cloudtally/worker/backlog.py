"""Whether the ingest is draining a backlog, so the work that can wait does.

Rollups, the candidate alerts and (embedded) the console's warm runs wait for its end.

While a backlog drains, every flush touches the hours the previous flushes touched,
and each rollup tick re-derives them: the same (VM, hour) keys computed again every
few seconds, each time holding chDB (one query at a time per process) while the next
flush waits behind it. Deferring the ticks while the takes come full and deriving once
the backlog is gone computes each key once instead (the queue keeps every touched
key, nothing is skipped). A bound keeps derivation from starving under a backlog
that never ends: the step still runs at least every ``max_defer_s``.

The alerts and the warm runs are pure Python: in one process they hold the GIL the
event loop and the flush need (a py-spy GIL profile of a draining embedded worker: the
warm thread held it 37 % of the time, the alerts 9 %, the flushes 5 %). Their readers
lose nothing by waiting for the backlog's end (a day's candidates, pages whose data is
still arriving); the same bound applies.

A take is *full* when it brought ``full_at`` messages (the agent's batch limit), so
more were waiting. In steady state (a province's fleet sends a few messages a second)
no take is full and nothing is deferred. A full take that is not followed by another
within ``FRESH_S`` (the topic ran dry exactly at a batch boundary, or a flush is held
for a down store) stops counting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FRESH_S = 10.0  # a full take older than this no longer says "backlog"


class Backlog:
    """The last take's size and time, noted by the samples agent, read by the timers."""

    def __init__(
        self, full_at: int, max_defer_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full_at = max(1, full_at)
        self.max_defer_s = max_defer_s
        self._clock = clock
        self._lock = threading.Lock()
        self._full = False
        self._taken_at = 0.0
        self._ran: dict[str, float] = {}  # step -> when it last ran (the start, at first)
        self._born = clock()

    def noted(self, taken: int) -> None:
        """One take of ``taken`` messages arrived."""
        with self._lock:
            self._full = taken >= self.full_at
            self._taken_at = self._clock()

    def draining(self) -> bool:
        with self._lock:
            return self._full and self._clock() - self._taken_at < FRESH_S

    def defers(self, last_run_at: float) -> bool:
        """Skip this tick: a backlog is draining and the step ran less than
        ``max_defer_s`` ago (``last_run_at`` on the same clock)."""
        if self.max_defer_s <= 0:
            return False
        return self.draining() and self._clock() - last_run_at < self.max_defer_s

    def holds(self, step: str) -> bool:
        """Whether ``step`` waits this time (``defers`` on the step's own last run);
        when it does not, it is noted as running now."""
        with self._lock:
            last = self._ran.get(step, self._born)
        if self.defers(last):
            return True
        with self._lock:
            self._ran[step] = self._clock()
        return False
