"""Is the embedded broker serving reads? A fetch probe, so a wedge is never a silent stall.

A broker can be alive and useless: the fault soak's Tansu answered metadata
requests while every fetch failed (its storage answered 500 to each listing), and
a SIGSTOPped Tansu or s3rver keeps its process "running". The supervisor's
liveness check saw nothing and the worker simply stopped consuming.

:class:`FetchProbe` reads, in a background thread, the first record of every
partition of the samples topic with a fresh client (the path that failed:
Tansu lists the partition's batches and reads one). A partition's fetch
succeeds when the response comes back with its high watermark and, unless the
partition is empty, a record. :meth:`FetchProbe.failing` says for how long it
has failed and why; the supervisor restarts the broker once that passes
``CLOUDTALLY_BROKER_WEDGE_S`` (:mod:`cloudtally.broker.supervisor`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failing:
    since_s: float  # seconds the fetch probe has been failing
    reason: str


def fetch_first_records(bootstrap: str, topic: str, timeout_s: float) -> str | None:
    """None when every partition of ``topic`` serves its first record, else what failed."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="cloudtally-fetch-probe",
            enable_auto_commit=False,
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            bootstrap_timeout_ms=int(timeout_s * 1000),  # kafka-python waits 30 s otherwise
            # Tansu 0.6 honours only the request's max_bytes, and returns at least one
            # batch: 1 byte makes a probe read one batch per partition, not 50 MB of them.
            fetch_max_bytes=1,
            max_partition_fetch_bytes=1,
            fetch_max_wait_ms=100,
        )
    except (KafkaError, OSError, ValueError) as exc:
        return f"no connection: {exc}"
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return f"no metadata for topic {topic}"
        # One partition per fetch: Tansu stops serving a request's partitions once its
        # max_bytes is spent, so with 1 byte only the first would ever answer.
        # Each partition gets the whole timeout: a slow answer (Tansu lists a partition's
        # every batch per fetch, so it slows as partitions grow) is an answer, not a wedge.
        silent = []
        for p in sorted(partitions):
            tp = TopicPartition(topic, p)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            deadline = time.monotonic() + timeout_s
            while True:
                got = consumer.poll(timeout_ms=200)
                high = consumer.highwater(tp)
                if high is not None and (high == 0 or got.get(tp)):
                    break
                if time.monotonic() >= deadline:
                    silent.append(p)
                    break
        if silent:
            names = ", ".join(str(p) for p in silent)
            return f"fetch from {topic} partition(s) {names}: no answer in {timeout_s:.0f}s each"
        return None
    except (KafkaError, OSError) as exc:
        return f"fetch failed: {exc}"
    finally:
        consumer.close()


class FetchProbe:
    """Probe every ``interval_s`` in a daemon thread; remember since when it fails."""

    def __init__(
        self, bootstrap: str, topic: str, *, interval_s: float = 5.0, timeout_s: float = 10.0
    ) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._reason = ""
        self._inflight_since: float | None = None  # a probe that has not returned yet
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FetchProbe:
        self._thread = threading.Thread(target=self._run, name="fetch-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 5)

    def reset(self) -> None:
        """Forget the failure (the broker was just restarted); a probe in flight is ignored."""
        with self._lock:
            self._failing_since, self._reason = None, ""
            self._inflight_since = None
            self._generation += 1

    def failing(self) -> Failing | None:
        """Since when fetches fail; a probe still waiting past its timeout counts too."""
        with self._lock:
            now = time.monotonic()
            if self._failing_since is not None:
                return Failing(now - self._failing_since, self._reason)
            started = self._inflight_since
            if started is not None and now - started > self.timeout_s:
                return Failing(now - started, f"no answer to a fetch for {now - started:.0f}s")
            return None

    def probe_once(self) -> str | None:
        started = time.monotonic()
        with self._lock:
            generation = self._generation
            self._inflight_since = started
        try:
            reason = fetch_first_records(self.bootstrap, self.topic, self.timeout_s)
        except Exception as exc:  # a probe must not die; it reports
            reason = f"probe error: {exc!r}"
        with self._lock:
            self._inflight_since = None
            if generation != self._generation:
                return reason  # the broker was restarted meanwhile: not about this one
            if reason is None:
                self._failing_since, self._reason = None, ""
            else:
                if self._failing_since is None:
                    self._failing_since = started
                self._reason = reason
        if reason:
            log.warning("broker fetch probe: %s", reason)
        return reason

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.probe_once()
