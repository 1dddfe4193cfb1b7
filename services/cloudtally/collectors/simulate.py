"""``cloudtally simulate``: send a deterministic simulated fleet to Kafka.

Inventory first (so the worker knows every VM before its samples), then samples
in time order; optionally keep going at wall-clock pace. The returned
:class:`SimulationReport` says exactly what was sent and what bad input was
planted, so an end-to-end test can assert exact counts downstream.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from cloudtally.broker.topics import ensure_topics
from cloudtally.collectors.badinput import (
    BadInputPlan,
    PlantedMessage,
    PlantedRow,
    bad_inventory_event,
)
from cloudtally.collectors.fleet import Fleet
from cloudtally.collectors.producer import InventoryProducer, SampleProducer
from cloudtally.core.samples import partition_for
from cloudtally.settings import Settings

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class SimulationReport:
    seed: int
    vms: int
    start: int
    end: int  # end of the last range sent (exclusive); grows in realtime mode
    interval: int
    messages: int = 0  # every samples-topic message, planted bad ones included
    samples_sent: int = 0  # sample rows in good-schema messages, planted bad rows included
    good_samples: int = 0  # distinct (vm_id, ts) keys the store must hold
    disk_samples_sent: int = 0
    good_disk_samples: int = 0  # distinct (vm_id, disk_id, ts) keys
    inventory_events: int = 0  # good inventory events
    bad_inventory_events: int = 0
    bad_rows: list[PlantedRow] = field(default_factory=list)
    bad_messages: list[PlantedMessage] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)  # profile/lifecycle -> vm_ids
    seconds: float = 0.0

    @property
    def bad_rows_by_reason(self) -> Counter[str]:
        return Counter(r.reason for r in self.bad_rows)

    @property
    def dead_letters_expected(self) -> int:
        return len(self.bad_rows) + len(self.bad_messages) + self.bad_inventory_events

    def summary(self, lang: str | None = None) -> str:
        """What the run sent, in the CLI's language (``cli.out.sim.*``; default zh)."""
        from cloudtally.i18n import cli_lang, translate

        _ = translate(lang or cli_lang())
        rate = self.good_samples / self.seconds if self.seconds else 0.0
        lines = [
            _("cli.out.sim.fleet", seed=self.seed, vms=self.vms, start=_iso(self.start),
              end=_iso(self.end), interval=self.interval),
            _("cli.out.sim.inventory", good=self.inventory_events,
              bad=self.bad_inventory_events),
            _("cli.out.sim.samples", good=self.good_samples, sent=self.samples_sent,
              disk=self.good_disk_samples, messages=self.messages),
            _("cli.out.sim.planted", rows=len(self.bad_rows), messages=len(self.bad_messages)),
            _("cli.out.sim.took", seconds=f"{self.seconds:.1f}", rate=f"{rate:,.0f}"),
        ]  # fmt: skip
        return "\n".join(lines)


def parse_time(value: str | int | float | dt.datetime) -> int:
    """Epoch seconds from an ISO string or datetime; naive means Asia/Shanghai."""
    if isinstance(value, int | float):
        return int(value)
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if t.tzinfo is None:
        t = t.replace(tzinfo=SHANGHAI)
    return int(t.timestamp())


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, SHANGHAI).isoformat()


def run(
    settings: Settings,
    *,
    seed: int,
    vms: int,
    pools: int,
    bureaus: int,
    start: str | int | dt.datetime,
    end: str | int | dt.datetime,
    interval: int,
    realtime: bool = False,
    bad_ratio: float = 0.0,
    rows_per_message: int = 2000,
    providers: int = 3,
    stop: threading.Event | None = None,
    wire_format: str = "arrow",
    heartbeats: bool = False,
    outage: tuple[str, int, int] | None = None,
) -> SimulationReport:
    """Backfill [start, end) as fast as possible, then (realtime) follow the wall clock.

    ``heartbeats``: beat every partition after each chunk, as a real exporter does (the
    CLI's default; off here so byte-level tests see samples only). ``outage``: (pool,
    from, to) — every VM of the pool silent over [from, to) while the beats go on."""
    t_start, t_end = parse_time(start), parse_time(end)
    fleet = Fleet.build(seed, vms, pools, bureaus, providers, start=t_start, end=t_end)
    if outage is not None:
        fleet.plant_outage(*outage)
    beat_source = "simulate" if heartbeats else None
    report = SimulationReport(seed, vms, t_start, t_end, interval, labels=fleet.labels)
    plan = BadInputPlan(bad_ratio, seed, wire_format=wire_format) if bad_ratio > 0 else None
    bootstrap = settings.kafka_bootstrap
    ensure_topics(settings)
    began = time.perf_counter()

    with InventoryProducer(bootstrap, settings.topic_inventory) as inv:
        for event in fleet.inventory_events():
            inv.send(event)
        report.inventory_events = inv.sent
        if plan is not None:
            inv.send_raw(*bad_inventory_event(t_start))
            report.bad_inventory_events = 1

    sp = SampleProducer(
        bootstrap,
        settings.topic_samples,
        None,
        rows_per_message,
        source="simulate",
        bad_plan=plan,
        wire_format=wire_format,
        interval_s=interval,
    )
    vm_part = np.array([partition_for(v, sp.partitions) for v in fleet.vm_ids], dtype=np.int32)
    sp.use_vm_ids(fleet.vm_ids)
    try:
        _send_range(fleet, sp, vm_part, t_start, t_end, interval, beat_source=beat_source)
        sp.send_remaining_bad_messages()
        sp.flush()
        _fill(report, sp, plan, time.perf_counter() - began)
        log.info("backfill done: %s", report.summary().replace("\n", "; "))
        if realtime:
            stop = stop or threading.Event()
            t = t_end
            try:
                while not stop.is_set():
                    nxt = t + interval
                    wait = nxt - time.time()
                    if wait > 0 and stop.wait(wait):
                        break
                    _send_range(fleet, sp, vm_part, t, nxt, interval, beat_source=beat_source)
                    sp.flush()
                    t = nxt
                    report.end = t
                    _fill(report, sp, plan, time.perf_counter() - began)
            except KeyboardInterrupt:
                log.info("interrupted")
    finally:
        sp.flush()
        sp.close()
    _fill(report, sp, plan, time.perf_counter() - began)
    return report


def _send_range(
    fleet: Fleet,
    sp: SampleProducer,
    vm_part: np.ndarray,
    t0: int,
    t1: int,
    interval: int,
    *,
    beat_source: str | None = None,
) -> None:
    """Send [t0, t1); with ``beat_source``, each chunk's heartbeats after its samples (the
    same producer: on each partition the beat follows the samples it vouches for)."""
    from cloudtally.collectors.simbeats import chunk_beats

    for chunk in fleet.samples(t0, t1, interval):
        sp.send_chunk(
            chunk.samples,
            chunk.disks,
            sample_partitions=vm_part[chunk.vm_index],
            disk_partitions=vm_part[chunk.disk_vm_index],
            sample_vm_index=chunk.vm_index,
        )
        if beat_source is not None:
            for beat in chunk_beats(beat_source, sp.partitions, chunk, vm_part):
                sp.send_raw(beat.partition, beat.to_json())


def _fill(
    report: SimulationReport, sp: SampleProducer, plan: BadInputPlan | None, seconds: float
) -> None:
    report.messages = sp.messages_sent
    report.samples_sent = sp.rows_sent
    report.good_samples = sp.good_rows
    report.disk_samples_sent = sp.disk_rows_sent
    report.good_disk_samples = sp.good_disk_rows
    if plan is not None:
        report.bad_rows = list(plan.rows)
        report.bad_messages = list(plan.messages)
    report.seconds = seconds


def run_cli(
    settings: Settings,
    seed: int,
    vms: int,
    pools: int,
    bureaus: int,
    start: str,
    end: str,
    days: float,
    interval: int,
    realtime: bool,
    bad_ratio: float,
    wire_format: str = "arrow",
    rows_per_message: int = 2000,
    heartbeats: bool = True,
    outage: str = "",
) -> SimulationReport:
    """CLI entry: default end = now rounded down to the interval, start = end - days;
    ``outage`` is ``POOL,FROM,TO`` (epoch seconds or ISO times)."""
    _quiet_kafka()
    t_end = parse_time(end) if end else int(time.time()) // interval * interval
    t_start = parse_time(start) if start else t_end - int(days * 86_400) // interval * interval
    report = run(
        settings,
        seed=seed,
        vms=vms,
        pools=pools,
        bureaus=bureaus,
        start=t_start,
        end=t_end,
        interval=interval,
        realtime=realtime,
        bad_ratio=bad_ratio,
        wire_format=wire_format,
        rows_per_message=rows_per_message,
        heartbeats=heartbeats,
        outage=parse_outage(outage) if outage else None,
    )
    print(report.summary())
    return report


def parse_outage(text: str) -> tuple[str, int, int]:
    """``pool-1,FROM,TO`` → (pool, from, to); times as epoch seconds or ISO."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"outage: POOL,FROM,TO, got {text!r}")
    t0, t1 = (int(p) if p.isdigit() else parse_time(p) for p in parts[1:])
    if t1 <= t0:
        raise ValueError(f"outage: TO must be after FROM, got {text!r}")
    return parts[0], t0, t1


def _quiet_kafka() -> None:
    """kafka-python logs every connection at INFO; keep the CLI output readable."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)
