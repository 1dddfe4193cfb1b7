"""A collector's outbox: every message is kept until the broker acknowledged it.

kafka-python retries a failed produce only until ``delivery_timeout_ms``
(120 s) and then drops the batch, reporting the error on a future nobody
reads; with the broker down longer than ``max_block_ms`` (60 s) ``send()``
itself raises. Either way samples a collector had produced were lost while
the embedded broker restarted. :class:`Outbox` closes that gap:

- each payload is held (in memory) from ``send`` until its acknowledgement;
- ``flush()`` waits for the acknowledgements and re-sends whatever failed, in
  send order, pausing between rounds, until everything is acknowledged — it
  returns only then (or raises when its ``timeout`` passes);
- the outbox is bounded (``max_bytes``, default 256 MiB): a ``send`` that
  would exceed it first flushes, so a long outage holds the collector back
  (backpressure) instead of growing without limit;
- a client that stops making progress (measured: kafka-python 3.0.12 at times
  never reconnects to a restarted broker, logging "No node available" forever)
  is replaced after ``stall_s`` by a new one from the factory, and everything
  unacknowledged is sent again through it.

Delivery is at-least-once: a batch whose acknowledgement was lost is sent
again, so the topic may hold it twice; the store's keys ((vm_id, ts) etc.)
make the stored result exact. A re-sent batch may land after a newer one of
the same partition, which the store does not mind (rows carry their own ts).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudtally import metrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class Pending:
    topic: str
    value: bytes
    partition: int | None
    key: bytes | None


class OutboxTimeout(TimeoutError):
    """``flush(timeout)`` passed its deadline with messages still unacknowledged."""


class Outbox:
    """Owns a kafka-python ``KafkaProducer`` made by ``factory``; see the module docstring."""

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        source: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retry_pause_s: float = 1.0,
        stall_s: float = 20.0,
    ) -> None:
        self._factory = factory
        self._producer = factory()
        self.stall_s = stall_s
        self.clients_replaced = 0
        self.source = source
        self.max_bytes = max_bytes
        self.retry_pause_s = retry_pause_s
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._pending: dict[int, Pending] = {}
        self._failed: dict[int, BaseException] = {}
        self._bytes = 0
        # Set when producer.send() itself failed (it blocked max_block_ms): later messages go
        # straight to the retry list instead of blocking once each; cleared by flush().
        self._unreachable: BaseException | None = None
        self.resent = 0  # messages sent again after a failure
        self._resent_ctr = metrics.PRODUCE_RETRIES.labels(source)

    @property
    def producer(self) -> Any:
        return self._producer

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout)

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged (in flight or waiting to be re-sent)."""
        with self._lock:
            return len(self._pending)

    def send(
        self, topic: str, value: bytes, *, partition: int | None = None, key: bytes | None = None
    ) -> None:
        if self._bytes + len(value) > self.max_bytes and self._pending:
            log.warning(
                "%s outbox full (%d messages, %d bytes unacknowledged): waiting for the broker",
                self.source,
                len(self._pending),
                self._bytes,
            )
            self.flush()
        seq = next(self._seq)
        item = Pending(topic, value, partition, key)
        with self._lock:
            self._pending[seq] = item
            self._bytes += len(value)
        self._dispatch(seq, item)

    def _dispatch(self, seq: int, item: Pending) -> None:
        if self._unreachable is not None:  # one send already blocked and failed: don't wait again
            self._on_error(seq, self._unreachable)
            return
        try:
            future = self._producer.send(
                item.topic, value=item.value, partition=item.partition, key=item.key
            )
        except Exception as exc:  # no metadata / buffer full past max_block_ms: retry later
            self._unreachable = exc
            self._on_error(seq, exc)
            return
        future.add_callback(lambda _meta, s=seq: self._on_ack(s))
        future.add_errback(lambda exc, s=seq: self._on_error(s, exc))

    def _on_ack(self, seq: int) -> None:
        with self._lock:
            item = self._pending.pop(seq, None)
            self._failed.pop(seq, None)
            if item is not None:
                self._bytes -= len(item.value)

    def _on_error(self, seq: int, exc: BaseException) -> None:
        with self._lock:
            if seq in self._pending:
                self._failed[seq] = exc

    def flush(self, timeout: float | None = None) -> None:
        """Return once every message sent so far is acknowledged, re-sending failures."""
        deadline = None if timeout is None else time.monotonic() + timeout
        progress_at, last_waiting = time.monotonic(), -1
        while True:
            left = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            try:
                self._producer.flush(left)
            except Exception as exc:  # kafka-python raises KafkaTimeoutError on its timeout
                log.debug("producer flush: %s", exc)
            with self._lock:
                failed = sorted(self._failed.items())
                self._failed.clear()
                waiting = len(self._pending)
            if not waiting:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise OutboxTimeout(f"{waiting} messages unacknowledged after {timeout}s")
            if waiting != last_waiting:
                progress_at, last_waiting = time.monotonic(), waiting
            elif time.monotonic() - progress_at > self.stall_s:
                self._replace_client(waiting)
                progress_at = time.monotonic()
                continue
            if failed:
                log.warning(
                    "%s: %d messages not acknowledged (%s); re-sending in %.1fs",
                    self.source,
                    len(failed),
                    type(failed[0][1]).__name__,
                    self.retry_pause_s,
                )
                time.sleep(self.retry_pause_s)
                self._unreachable = None
                with self._lock:
                    again = [(s, self._pending[s]) for s, _ in failed if s in self._pending]
                for seq, item in again:
                    self._dispatch(seq, item)
                self.resent += len(again)
                self._resent_ctr.inc(len(again))
            else:
                time.sleep(0.05)  # acks in flight: the producer's flush returned early

    def _replace_client(self, waiting: int) -> None:
        """A new client for a stuck one; every unacknowledged message goes out again."""
        log.warning(
            "%s: no acknowledgement for %.0fs with %d messages pending: new Kafka client",
            self.source,
            self.stall_s,
            waiting,
        )
        try:
            new = self._factory()
        except Exception as exc:  # broker not answering yet: keep the old one, try later
            log.warning("%s: no new Kafka client yet (%s); retrying", self.source, exc)
            return
        old, self._producer = self._producer, new
        self.clients_replaced += 1
        try:
            old.close(timeout=0)
        except Exception as exc:  # the old client is abandoned either way
            log.debug("closing the stalled client: %s", exc)
        with self._lock:
            again = sorted(self._pending.items())
            self._failed.clear()
        self._unreachable = None
        for seq, item in again:
            self._dispatch(seq, item)
        self.resent += len(again)
        self._resent_ctr.inc(len(again))
