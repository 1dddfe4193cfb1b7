"""A held batch is never acked nor committed past: the mechanism, on Faust's real consumer.

Deterministic half of tests/faults/test_store_outage.py (whose SIGTERM race
found it): Faust's consumer commit rule, fed the offsets the outage produced,
commits past an unwritten batch; with :class:`CommitFence` and :func:`held` it
does not, and commits everything once the batch is written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import faust
import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from cloudtally.worker.held_offsets import CommitFence, held

TOPIC = "samples-fence"


class Event:
    def __init__(self, message: ConsumerMessage) -> None:
        self.message = message


def on_faust(check: Callable[[Any], None]) -> None:
    """Run ``check(consumer)`` with a real (unconnected) Faust aiokafka consumer."""

    async def main() -> None:
        app = faust.App("fence-test", broker="kafka://127.0.0.1:1", web_enabled=False)
        app.topics.add(app.topic(TOPIC, value_serializer="raw"))
        await app.topics._update_indices()  # what the conductor does on subscribing
        assert app.topics.acks_enabled_for(TOPIC)
        check(app.consumer)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # no loop of a browser test here
        pool.submit(asyncio.run, main()).result()


def messages(offsets: range, partition: int = 0) -> list[ConsumerMessage]:
    return [ConsumerMessage(TOPIC, partition, o, 0.0, 0, {}, None, b"x", None) for o in offsets]


def ack_all(consumer: Any, msgs: list[ConsumerMessage]) -> None:
    """What take_events' ``finally`` does to a batch (also when the stream closes it)."""
    for m in msgs:
        m.ack(consumer)


def commit(consumer: Any, tp: TP) -> int | None:
    """Faust's commit step for one partition: the new offset, then recorded as committed."""
    offset: int | None = consumer._new_offset(tp)
    if offset is not None:
        consumer._committed_offset[tp] = offset
    return offset


def test_faust_commits_past_a_one_message_gap_and_the_fence_stops_it() -> None:
    def check(consumer: Any) -> None:
        tp = TP(TOPIC, 0)
        consumer._committed_offset[tp] = 8  # next offset to read: 8 is not written
        ack_all(consumer, messages(range(9, 12)))
        assert commit(consumer, tp) == 12  # Faust alone: 8 is skipped

        ack_all(consumer, messages(range(12, 15)))
        fence = CommitFence()
        batch = messages(range(15, 16))
        with held([Event(m) for m in batch], consumer, fence):
            ack_all(consumer, messages(range(16, 20)))  # acked after the held offset
            assert commit(consumer, tp) == 15  # up to the held offset, not past it
            assert commit(consumer, tp) is None
        ack_all(consumer, batch)
        assert commit(consumer, tp) == 20  # written: the whole run commits

    on_faust(check)


def test_a_batch_held_when_nothing_was_committed_yet_is_not_passed() -> None:
    def check(consumer: Any) -> None:
        tp = TP(TOPIC, 1)
        fence = CommitFence()
        batch = messages(range(0, 4), partition=1)
        events = [Event(m) for m in batch]
        with pytest.raises(asyncio.CancelledError), held(events, consumer, fence):
            ack_all(consumer, batch)  # the stream closing take_events: no effect
            ack_all(consumer, messages(range(4, 9), partition=1))
            raise asyncio.CancelledError  # the worker stops while the store is down
        assert commit(consumer, tp) is None  # Faust alone would commit 9
        assert sorted(consumer._acked[tp]) == [4, 5, 6, 7, 8]  # kept, never committed

    on_faust(check)


def test_a_written_batch_is_acked_as_usual() -> None:
    def check(consumer: Any) -> None:
        tp = TP(TOPIC, 2)
        fence = CommitFence()
        batch = messages(range(0, 5), partition=2)
        with held([Event(m) for m in batch], consumer, fence):
            ack_all(consumer, batch)
            assert consumer._acked[tp] == []
        assert fence.lowest(tp) is None
        ack_all(consumer, batch)
        assert commit(consumer, tp) == 5

    on_faust(check)
