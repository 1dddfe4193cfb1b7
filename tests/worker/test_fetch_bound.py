"""The per-partition fetch bound (CLOUDTALLY_CONSUMER_FETCH_PARTITION_KB) bounds memory,
not message size: a message larger than the bound still arrives whole, in order, from the
real broker (Kafka's rule, that a fetch returns at least one whole batch, is Tansu's too).
A broker that truncated instead would make aiokafka skip the message: data lost."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloudtally.worker.app import create_app


def _run_in_own_thread(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """``asyncio.run`` in a thread of its own: the console tests' browser session
    (Playwright's sync API) keeps an event loop running on the main thread of the test
    process for the rest of the session, where asyncio.run refuses to start."""
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_the_bound_comes_from_settings(settings, chdb_store) -> None:
    app = create_app(settings(consumer_fetch_partition_kb=512, derive_enabled=False), chdb_store)
    assert app.conf.consumer_max_fetch_size == 512 * 1024
    assert settings().consumer_fetch_partition_kb == 1024  # default (the worker set 8 MiB before)


def test_a_message_larger_than_the_bound_still_arrives(broker: str, test_id: str) -> None:
    topic = f"fetch-bound-{test_id}"
    sizes = [100, 3 * 2**20, 200, 2 * 2**20 + 5, 60_000]
    bound = 1024 * 1024  # the default

    async def run() -> list[bytes]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=broker, max_request_size=8 * 2**20)
        await producer.start()
        try:
            for i, n in enumerate(sizes):
                await producer.send_and_wait(topic, bytes([i]) * n, partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker, group_id=topic,
                                    auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=bound)  # fmt: skip
        await consumer.start()
        got: list[bytes] = []
        try:
            while len(got) < len(sizes):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                got += [m.value or b"" for msgs in batch.values() for m in msgs]
        finally:
            await consumer.stop()
        return got

    got = _run_in_own_thread(run)
    assert [len(v) for v in got] == sizes
    assert [v[:1] for v in got] == [bytes([i]) for i in range(len(sizes))]
