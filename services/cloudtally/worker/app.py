"""The Faust worker: thin agents around :class:`IngestSink`.

Each agent takes a batch of events (size/time limits from settings), hands the
raw messages to the sink in a thread (the store call blocks), sends the
sink's dead letters, and only then lets Faust ack the events — so offsets are
committed after the flush. A store that is down holds the batch (worker/hold.py):
retried however long it takes, never acked unwritten. With chDB the worker owns
the store folder, so in embedded mode it also serves the HTTP API in its own
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import faust

from cloudtally import metrics
from cloudtally.settings import Settings
from cloudtally.store import Store, open_store
from cloudtally.store.chdb_allocator import configure as configure_chdb_allocator
from cloudtally.store.migrate import migrate
from cloudtally.worker.allocator import Trimmer, tune
from cloudtally.worker.arrow_pool import use as use_arrow_pool
from cloudtally.worker.backlog import Backlog
from cloudtally.worker.dead_letters import topic_record
from cloudtally.worker.held_offsets import CommitFence, held
from cloudtally.worker.hold import STORE_GATE, wait_for_store, write_until_stored
from cloudtally.worker.sink import FlushResult, IngestSink, RawMessage

log = logging.getLogger(__name__)
# Freed pages back to the system after a samples flush and after each derivation step
# (worker/allocator.py): a rollup of a drained backlog frees as much as a flush, and
# with ingest over no flush would trim it. One per process: at most one trim a second.
TRIMMER = Trimmer()


def raw_messages(events: Sequence[Any]) -> list[RawMessage]:
    return [
        RawMessage(e.message.topic, e.message.partition, e.message.offset, e.message.value)
        for e in events
    ]


def create_app(settings: Settings, store: Store) -> faust.App:
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_partitions=settings.samples_partitions,
        stream_buffer_maxsize=settings.stream_buffer_messages,
        # On stop, commit what was acked and go: waiting for every taken message to be
        # acked (the default) never ends while a batch is held for a down store.
        stream_wait_empty=False,
        producer_max_request_size=8 * 1024 * 1024,
        consumer_max_fetch_size=settings.consumer_fetch_partition_kb * 1024,
    )
    sink = IngestSink(store, consumer=settings.consumer_group)
    fence = CommitFence()  # offsets taken and not yet written: never committed past
    # Full takes mean a backlog: the rollup step waits for its end (worker/backlog.py).
    backlog = Backlog(settings.take_max_messages, settings.rollup_max_defer_s)

    async def write(fn: Callable[[], FlushResult], stage: str, agent: Any) -> FlushResult:
        """Held until stored: the body does not return, so take_events does not ack.

        The hold ends when *the agent* stops, not the app: an agent body that raises
        before Faust stops its agent is taken for a rebalance and restarted, and the
        restarted actor could keep the worker's stop from finishing (SIGKILL)."""
        return await write_until_stored(
            fn,
            stage,
            budget_s=settings.store_retry_budget_s,
            max_delay_s=settings.store_retry_max_delay_s,
            stopping=lambda: bool(agent.should_stop),
        )

    samples_topic = app.topic(settings.topic_samples, value_serializer="raw", key_serializer="raw")
    inventory_topic = app.topic(
        settings.topic_inventory, value_serializer="raw", key_serializer="raw"
    )
    dead_letter_topic = app.topic(
        settings.topic_dead_letter, value_serializer="raw", key_serializer="raw"
    )

    async def send_dead_letters(result: FlushResult) -> None:
        """At-least-once, after the store write: a redelivery resends the same keys."""
        for record in result.dead_letters:
            key, value = topic_record(record, settings.dead_letter_topic_max_payload_bytes)
            await dead_letter_topic.send(key=key, value=value)
        if result.dead_letters:
            await app.producer.flush()

    @app.agent(samples_topic, name="ingest-samples")
    async def ingest_samples(stream: faust.Stream) -> None:
        async for events in stream.take_events(settings.take_max_messages, settings.take_within_s):
            backlog.noted(len(events))
            with held(events, app.consumer, fence):
                msgs = raw_messages(events)
                result = await write(
                    TRIMMER.after(lambda m=msgs: sink.write_samples(m)), "samples", ingest_samples
                )
                await send_dead_letters(result)
            # Written and acked: let the batch go now, not when the next take returns (the
            # loop's names would keep ~30 MB of message bytes alive while it fills).
            del events, msgs, result

    @app.agent(inventory_topic, name="ingest-inventory")
    async def ingest_inventory(stream: faust.Stream) -> None:
        async for events in stream.take_events(1000, settings.take_within_s):
            with held(events, app.consumer, fence):
                msgs = raw_messages(events)
                result = await write(
                    lambda m=msgs: sink.write_inventory(m), "inventory", ingest_inventory
                )
                await send_dead_letters(result)

    @app.agent(dead_letter_topic, name="ingest-collector-dead-letters")
    async def ingest_collector_dead_letters(stream: faust.Stream) -> None:
        """Collectors' rejects (unknown VMs) into dead_letters: worker/collector_dead_letters."""
        async for events in stream.take_events(1000, settings.take_within_s):
            with held(events, app.consumer, fence):
                msgs = raw_messages(events)
                await write(
                    lambda m=msgs: sink.write_collector_dead_letters(m),
                    "dead_letters",
                    ingest_collector_dead_letters,
                )

    app.backlog = backlog  # type: ignore[attr-defined]  # the embedded API's warm runs wait too
    if settings.derive_enabled:
        attach_derivation(app, settings, store, backlog)

    @app.timer(interval=5.0)
    async def report_highwater() -> None:
        STORE_GATE.refresh()
        consumer = app.consumer
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is not None:
                metrics.CONSUMER_HIGHWATER.labels(tp.topic, str(tp.partition)).set(hw)

    return app


async def run_step(name: str, fn: Callable[[], Any], *, count_errors: bool = True) -> Any:
    """One derivation step in a thread; a failure is logged and counted, never fatal:
    its watermark did not move, so the next tick recomputes the same keys.
    ``count_errors=False`` for steps that count their own failures per task."""
    try:
        return await asyncio.to_thread(TRIMMER.after(fn))
    except Exception:
        if count_errors:
            metrics.ANALYTICS_ERRORS.labels(name).inc()
        log.exception("%s step failed; it will be retried on the next tick", name)
        return None


def refresh_orphan_gauges(store: Store) -> None:
    """cloudtally_orphan_* from the store (see queries/orphans.py for the rule)."""
    import time

    from cloudtally.queries.orphans import orphan_summary

    summary = orphan_summary(store)
    metrics.ORPHAN_VMS.set(summary["orphan_vms"])
    oldest = summary["oldest_orphan_ingested"]
    metrics.ORPHAN_OLDEST_AGE.set(max(0.0, time.time() - oldest) if oldest else 0.0)


def attach_derivation(app: faust.App, settings: Settings, store: Store, backlog: Backlog) -> None:
    """Rollups, rating and candidate alerts on the leader worker (see worker/derive.py)."""
    from cloudtally.audit.ledger import activated_policy
    from cloudtally.policy import current_policy
    from cloudtally.worker.derive import Derivation

    current_policy(settings.policy_file)  # a bad policy file fails the start, loudly
    derivation = Derivation(store, activated_policy(store, settings.policy_file))

    duty = DutyCycle(settings.rollup_max_duty)

    @app.timer(interval=settings.rollup_interval_s, on_leader=True)
    async def rollup() -> None:
        if not duty.due():
            return
        if backlog.defers(duty.started_at):
            metrics.DERIVATION_DEFERRED.labels("rollup").inc()
            return
        with duty.timed():
            result = await run_step("rollup", derivation.rollup)
        if result and result.hours:
            log.info(
                "rollup: %d hours, %d days in %.2fs", result.hours, len(result.days), result.seconds
            )

    @app.timer(interval=settings.rating_interval_s, on_leader=True)
    async def rating() -> None:
        result = await run_step("rating", derivation.rate)
        if result and result.days:
            log.info(
                "rating: %d days, %d lines in %.2fs", len(result.days), result.rows, result.seconds
            )

    @app.timer(interval=settings.analytics_interval_s, on_leader=True)
    async def orphans() -> None:
        await run_step("orphans", lambda: refresh_orphan_gauges(store))

    alerts = AlertPublisher(settings, store, derivation.policy)

    @app.timer(interval=settings.analytics_interval_s, on_leader=True)
    async def analytics() -> None:
        if backlog.holds("alerts"):
            metrics.DERIVATION_DEFERRED.labels("alerts").inc()
            return
        await run_step("alerts", alerts.run_once, count_errors=False)

    @app.on_before_shutdown.connect
    async def close_alerts(_app: Any, **_kw: Any) -> None:
        alerts.close()

    if settings.raw_retention_months > 0:

        @app.timer(interval=settings.raw_retention_interval_s, on_leader=True)
        async def raw_retention() -> None:
            """Drop raw months past the kept window once issued and derived."""
            from cloudtally.store.retention import apply_retention

            keep = settings.raw_retention_months
            zone = derivation.policy.zone
            await run_step("retention", lambda: apply_retention(store, keep, zone=zone))

    if settings.audit_verify_interval_s > 0:

        @app.timer(interval=settings.audit_verify_interval_s, on_leader=True)
        async def audit_verify() -> None:
            """Re-verify the ledger; a mismatch raises cloudtally_audit_problems (alert)."""
            from cloudtally.audit.ledger import verify

            report = await run_step("audit", lambda: verify(store))
            if report is not None:
                metrics.record_audit(report)
                if not report.ok:
                    log.error("audit: ledger verification failed: %s", report.first)


class DutyCycle:
    """Keep a recurring step to at most ``share`` of the time: after a run of d seconds
    the next is not due before d * (1 / share - 1) seconds. While the worker drains a
    backlog every tick re-derives the hours the last flushes touched again, so without a
    cap the rollups take the cores the ingest needs; in steady state a run is short and
    every tick runs. Nothing is skipped for good: the queue keeps the touched hours."""

    def __init__(self, share: float) -> None:
        import time

        self.share = min(1.0, max(share, 0.01))
        self.next_at = 0.0
        self.started_at = time.monotonic()  # the last run's start (the worker's, at first)

    def due(self) -> bool:
        import time

        return time.monotonic() >= self.next_at

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        import time

        t0 = self.started_at = time.monotonic()
        try:
            yield
        finally:
            d = time.monotonic() - t0
            self.next_at = t0 + d / self.share


class AlertPublisher:
    """Candidate alerts to the ``alerts`` topic, then gauges; one pass per timer tick.

    Uses a kafka-python producer because the pass runs in a thread: ``flush()``
    returns once every event is acknowledged, and only then does
    :func:`evaluate_candidates` record the state (at-least-once, never lost).
    """

    def __init__(self, settings: Settings, store: Store, policy: Any) -> None:
        self.settings, self.store, self.policy = settings, store, policy
        self._producer: Any = None

    def _producer_for(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=5
            )
        return self._producer

    def run_once(self) -> Any:
        import datetime as dt

        from cloudtally.analytics.alerts import evaluate_candidates
        from cloudtally.analytics.gauges import refresh_gauges
        from cloudtally.billing.gauges import refresh_billing_gauges

        producer = self._producer_for()
        topic = self.settings.topic_alerts
        now = dt.datetime.now(dt.UTC)
        # Each task counts its own failures (tasks alerts, candidates, kpi, billing) and
        # one failing does not keep the others from running.
        summary = None
        try:
            summary = evaluate_candidates(
                self.store,
                self.policy,
                now,
                lambda key, value: producer.send(topic, key=key, value=value),
                flush=producer.flush,
            )
        finally:
            try:
                candidates = summary.candidates if summary is not None else None
                refresh_gauges(self.store, self.policy, now, candidates=candidates)
            finally:
                try:
                    today = now.astimezone(self.policy.zone).date()
                    refresh_billing_gauges(self.store, self.policy, today)
                except Exception:
                    metrics.ANALYTICS_ERRORS.labels("billing").inc()
                    raise
                finally:
                    from cloudtally.evaluation.gauges import refresh_availability_gauges

                    refresh_availability_gauges(self.store, self.policy, today)
        return summary

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def open_worker_store(settings: Settings) -> Store:
    """Open and migrate the store, waiting for it when it is down at start."""

    def attempt() -> tuple[Store, list[Any]]:
        store = open_store(settings.resolved_store_url, settings.database)
        try:
            return store, migrate(store)
        except Exception:
            store.close()
            raise

    store, ran = wait_for_store(
        attempt,
        budget_s=settings.store_retry_budget_s,
        max_delay_s=settings.store_retry_max_delay_s,
    )
    if ran:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}_{m.name}" for m in ran))
    return store


def attach_api(app: faust.App, settings: Settings, store: Store) -> None:
    """Serve the FastAPI app inside the worker's event loop (embedded mode, chDB)."""
    import uvicorn

    from cloudtally.api.main import create_api

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:  # Faust owns the signals in this process.
            yield

    api = create_api(settings, lambda: store)
    from cloudtally.broker.status import install_broker_health

    install_broker_health(api, settings)  # /readyz says when the broker is down
    from cloudtally.console import warming

    # the console's heavy pages, after the data behind them changed; in this process they
    # hold the GIL the ingest needs, so they wait while a backlog drains
    warmer = warming.start(api, yields=getattr(app, "backlog", None))
    server = _Server(
        uvicorn.Config(
            api, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off"
        )
    )

    @app.task
    async def serve_api() -> None:
        log.info("API on http://%s:%d", settings.api_host, settings.api_port)
        await server.serve()

    @app.on_before_shutdown.connect
    async def stop_api(_app: Any, **_kw: Any) -> None:
        server.should_exit = True
        if warmer is not None:
            warmer.stop()


def run_worker(settings: Settings, *, with_api: bool = False) -> None:
    from cloudtally.broker.topics import ensure_topics
    from cloudtally.worker.broker_wait import wait_for_broker

    tune(settings.malloc_arena_max, settings.malloc_mmap_threshold_kb)  # before any thread
    configure_chdb_allocator(settings.chdb_malloc_conf)  # before chDB loads
    use_arrow_pool(settings.arrow_memory_pool)  # before the first message is decoded
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    serves_api = with_api or settings.resolved_store_url.startswith("chdb")
    wait_for_broker(settings, ensure_topics, serve_readiness=serves_api)  # down at start: wait
    store = open_worker_store(settings)
    app = create_app(settings, store)
    # chDB allows one process per folder: the worker that owns it must serve the API.
    if with_api or store.engine == "chdb":
        attach_api(app, settings, store)
    elif settings.metrics_port:
        from cloudtally.metrics_access import serve_metrics

        serve_metrics(settings, settings.metrics_port, settings.api_host)
    worker = faust.Worker(
        app, loglevel=os.environ.get("CLOUDTALLY_FAUST_LOGLEVEL", "WARN"), quiet=True
    )
    try:
        worker.execute_from_commandline()
    finally:
        store.close()
