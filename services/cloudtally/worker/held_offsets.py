"""A taken batch is never acknowledged, nor committed past, until it is written.

Found with the real Faust (tests/faults/test_store_outage.py, issue #11): on
SIGTERM while a batch was held for a down store, the fetcher's drainer stops the
stream first, and ``Stream.on_stop`` closes the ``take_events`` generator with
``aclose()``. Its ``finally`` then acks every event of the batch *while the
agent is still holding it*; the consumer's stop commits those offsets and the
next worker starts after the unwritten batch (one phase of samples lost). The
old guard marked the messages only when the agent's body raised, which came
after that commit whenever the stream stopped first: a timing-dependent loss.

:func:`held` shields the batch from the moment it is taken: each message's
``acked`` flag is set, which makes every Faust ack of it a no-op (``Message.ack``
and ``Consumer.ack`` skip acked messages), and the flags are cleared only after
the write succeeded, so that ``take_events`` then acks them as usual. If the
body does not complete (stop, crash) the messages stay shielded: never added to
the consumer's acked offsets, redelivered to the next owner of the partition.

:class:`CommitFence` closes the second hole, in Faust's commit rule: a run of
acked offsets *after* a gap is committed when the gap is one message wide
(``min(acked) - committed > 1`` with ``committed`` the next offset to read), or
at any width when nothing was committed yet (``committed`` is None, and offset
0 is turned into None). While a batch is held, the fence keeps the consumer from
committing any run that starts above the lowest held offset of its partition;
the acked offsets stay in Faust's list and are committed once the gap is filled.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)


class CommitFence:
    """Per partition, the offsets taken by a batch and not yet written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Any, dict[int, int]] = {}  # tp -> offset -> batches holding it

    def hold(self, messages: Sequence[Any]) -> None:
        with self._lock:
            for m in messages:
                offsets = self._held.setdefault(m.tp, {})
                offsets[m.offset] = offsets.get(m.offset, 0) + 1

    def release(self, messages: Sequence[Any]) -> None:
        with self._lock:
            for m in messages:
                offsets = self._held.get(m.tp, {})
                left = offsets.get(m.offset, 0) - 1
                if left > 0:
                    offsets[m.offset] = left
                else:
                    offsets.pop(m.offset, None)
                if not offsets:
                    self._held.pop(m.tp, None)

    def lowest(self, tp: Any) -> int | None:
        """The first held (unwritten) offset of ``tp``: no commit may pass it."""
        with self._lock:
            offsets = self._held.get(tp)
            return min(offsets) if offsets else None

    def guard(self, consumer: Any) -> None:
        """Wrap ``consumer._new_offset`` (Faust's commit rule) once; idempotent."""
        if getattr(consumer, "_cloudtally_fence", None) is self:
            return
        new_offset = consumer._new_offset

        def fenced(tp: Any) -> int | None:
            lowest = self.lowest(tp)
            acked = consumer._acked[tp]
            if lowest is not None and acked and min(acked) > lowest:
                return None  # the run starts after an unwritten offset: keep it for later
            offset: int | None = new_offset(tp)
            return offset

        consumer._new_offset = fenced
        consumer._cloudtally_fence = self


@contextlib.contextmanager
def held(events: Sequence[Any], consumer: Any, fence: CommitFence) -> Iterator[None]:
    """Shield ``events`` from every ack and commit until the body completes."""
    messages = [e.message for e in events]
    fence.guard(consumer)
    fence.hold(messages)
    for m in messages:
        m.acked = True  # Faust's acks of these are no-ops from here on
    try:
        yield
    except BaseException:
        log.warning(
            "batch of %d messages not written: left unacknowledged for redelivery",
            len(messages),
        )
        raise  # still shielded and fenced: never acked, never committed past
    for m in messages:
        m.acked = False  # written: take_events acks them as usual now
    fence.release(messages)
