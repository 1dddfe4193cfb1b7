"""Under-utilization alerts on a planted fleet, on both engines: exactly the planted
candidates become ``new`` events once, nothing is resent while nothing changes, a VM
that stops being idle gives exactly one ``resolved`` event, a crash between sending
and recording resends the same event ids, and events go through a real broker."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from prometheus_client import REGISTRY

from cloudtally.analytics.alerts import evaluate_candidates
from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.core.policy import Policy, parse_yaml, policy_from_document
from cloudtally.policy import example_policy_text
from cloudtally.settings import Settings
from cloudtally.store import Store

from .plant import disk_samples, inventory, profile, samples

TZ = "Asia/Shanghai"
Q0, AS_OF = dt.date(2023, 7, 1), dt.date(2023, 10, 1)  # the review quarter Q3 2023
SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "alert.schema.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def make_policy() -> Policy:
    """The packaged example tariff with 15-minute samples (keeps planted fleets light)."""
    doc = parse_yaml(example_policy_text())
    for version in doc["versions"]:
        version["utilization"] = {"expected_sample_interval_s": 900}
    return policy_from_document(doc)


POLICY = make_policy()
UTIL = POLICY.versions[-1].utilization

# vm_id -> (provider, pool, bureau, cpu %, mem %, disks (id, size GB, tier, used GB))
FLEET: dict[str, tuple[str, str, str, float, float, list[tuple[str, str, str, float]]]] = {
    "idle": ("provider-a", "pool-1", "B1", 2.0, 3.0, [("idle-d", "100", "standard", 50.0)]),
    "busy": (
        "provider-a",
        "pool-1",
        "B1",
        45.0,
        60.0,
        [("busy-cold", "500", "archive", 10.0), ("busy-data", "100", "standard", 50.0)],
    ),
    "oversized": ("provider-a", "pool-2", "B2", 10.0, 12.0, [("o-d", "200", "standard", 50.0)]),
    # a pool the tariff does not price
    "stray": ("other", "P9", "B2", 10.0, 12.0, [("s-d", "100", "performance", 20.0)]),
}
EXPECTED_NEW = {
    ("idle", "idle", None),
    ("rightsizing", "idle", None),
    ("rightsizing", "oversized", None),
    ("rightsizing", "stray", None),
    ("storage_idle", "busy", "busy-cold"),
}


def plant_fleet(store: Store, vm_ids: list[str] | None = None) -> None:
    """Q3 2023 of 15-minute samples (daily disk samples) and its rollups."""
    h0, h1 = hours_of_days(Q0, AS_OF, TZ)
    for vm_id, (provider, pool, bureau, cpu, mem, disks) in FLEET.items():
        if vm_ids is not None and vm_id not in vm_ids:
            continue
        inventory(
            store,
            vm_id,
            h0 - 86400,
            bureau=bureau,
            system=f"sys-{bureau}",
            pool=pool,
            provider=provider,
            vcpu=8,
            mem_gb="16",
            disks=[(d[0], d[1], d[2]) for d in disks],
        )
        ts, c = profile(h0, h1, 900, lambda h, v=cpu: np.full(h.shape, v))
        samples(store, vm_id, ts, c, mem)
        for disk_id, _, _, used in disks:
            disk_samples(store, vm_id, disk_id, np.arange(h0, h1, 86400) + 3 * 3600, used)
    recompute_hours(store, vm_ids, h0, h1, utilization=UTIL)
    recompute_days(store, vm_ids, Q0, AS_OF, utilization=UTIL)


def set_level(store: Store, vm_id: str, day: dt.date, cpu: float, version: int) -> None:
    """Replace one local day of a VM's samples (higher version) and recompute its rollups."""
    h0, h1 = hours_of_days(day, day + dt.timedelta(days=1), TZ)
    ts = np.arange(h0, h1, 900)
    samples(store, vm_id, ts, cpu, 3.0, version=version)
    recompute_hours(store, [vm_id], h0, h1, utilization=UTIL)
    recompute_days(store, [vm_id], day, day + dt.timedelta(days=1), utilization=UTIL)


class Outbox:
    """A transport that keeps what it was handed; can fail after ``fail_after`` sends."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[tuple[bytes, dict[str, Any]]] = []
        self.fail_after = fail_after

    def __call__(self, key: bytes, value: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("broker went away")
        self.sent.append((key, json.loads(value)))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for _, e in self.sent]


def keys(events: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(e["kind"], e["vm_id"], e["disk_id"]) for e in events}


def sample(name: str, **labels: str) -> float:
    """A metric's current value in the default registry (0 when never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counter(kind: str, change: str) -> float:
    return sample("cloudtally_utilization_alerts_total", kind=kind, change=change)


def test_alerts_once_per_change(store: Store) -> None:
    plant_fleet(store)
    before = counter("rightsizing", "new")
    out = Outbox()
    s = evaluate_candidates(store, POLICY, AS_OF, out, now=1_700_000_000)
    assert keys(out.events) == EXPECTED_NEW and len(out.events) == len(EXPECTED_NEW)
    assert {e["change"] for e in out.events} == {"new"} and s.open == 5
    assert [e["event_id"] for e in s.new] == [e["event_id"] for e in out.events]
    for key, e in out.sent:
        VALIDATOR.validate(e)
        assert key == f"{e['kind']}/{e['vm_id']}/{e['disk_id'] or ''}".encode()
    assert len({e["event_id"] for e in out.events}) == 5
    assert counter("rightsizing", "new") - before == 3

    by_key = {(e["kind"], e["vm_id"]): e for e in out.events}
    o = by_key[("rightsizing", "oversized")]
    # 8 vCPU / 16 GB at 10 % / 12 % → 2 vCPU / 4 GB; pool-2 (tariff 2023.2): 28 and 14 CNY a
    # month list ÷ 720 h × 8760 h × 0.55 = 187.3667 and 93.6833 → 6 × + 12 × = 2248.40
    assert (o["freed_vcpu"], o["freed_mem_gb"], o["savings_year"]) == (6, "12", "2248.40")
    assert o["window"] == {"start": "2023-07-01", "end": "2023-10-01"}
    assert o["evidence"]["target_vcpu"] == 2 and "2023.2" in o["evidence"]["price_basis"]
    assert by_key[("rightsizing", "stray")]["savings_year"] is None  # unpriced: not zero
    idle = by_key[("idle", "idle")]
    assert idle["window"] == {"start": "2023-09-17", "end": "2023-10-01"}
    assert idle["evidence"]["cpu_avg"] == 2.0 and idle["episode"] == 1
    cold = by_key[("storage_idle", "busy")]
    assert cold["disk_id"] == "busy-cold" and cold["freed_storage_gb"] == "500"
    assert cold["window"] == {"start": "2023-08-01", "end": "2023-10-01"}
    assert store.scalar("SELECT count() FROM alert_events") == 5

    # nothing changed: nothing is sent, nothing recorded
    again = Outbox()
    s2 = evaluate_candidates(store, POLICY, AS_OF, again, now=1_700_003_600)
    assert again.sent == [] and s2.open == 5 and s2.events == []
    assert store.scalar("SELECT count() FROM alert_events") == 5

    # the idle VM works on 28 September: no longer idle (max ≥ 10 %), still oversized
    set_level(store, "idle", dt.date(2023, 9, 28), 30.0, version=2)
    third = Outbox()
    s3 = evaluate_candidates(store, POLICY, AS_OF, third, now=1_700_007_200)
    assert keys(third.events) == {("idle", "idle", None)} and len(third.events) == 1
    (r,) = third.events
    VALIDATOR.validate(r)
    assert r["change"] == "resolved" and s3.open == 4
    assert (r["opened_at"], r["resolved_at"], r["episode"]) == (1_700_000_000, 1_700_007_200, 1)
    assert r["evidence"] == idle["evidence"]  # the evidence it was opened with
    assert r["event_id"] != idle["event_id"]
    assert evaluate_candidates(store, POLICY, AS_OF, Outbox()).events == []
    state = store.dicts(
        """
        SELECT kind, vm_id, argMax(status, version) AS st, argMax(resolved_at, version) AS res,
            argMax(savings_year, version) AS money, argMax(last_event_id, version) AS last_id
        FROM alert_state GROUP BY kind, vm_id ORDER BY kind, vm_id
        """
    )
    current = {(x["kind"], x["vm_id"]): x for x in state}
    assert str(current[("idle", "idle")]["st"]) == "resolved"
    assert int(current[("idle", "idle")]["res"].timestamp()) == 1_700_007_200
    assert current[("idle", "idle")]["last_id"] == r["event_id"]
    assert str(current[("rightsizing", "oversized")]["st"]) == "open"
    assert current[("rightsizing", "oversized")]["res"] is None
    assert Decimal(current[("rightsizing", "oversized")]["money"]) == Decimal("2248.40")
    assert current[("rightsizing", "stray")]["money"] is None

    # back to idle (corrected samples): the candidate reopens as episode 2, a new event id
    set_level(store, "idle", dt.date(2023, 9, 28), 2.0, version=3)
    fourth = Outbox()
    evaluate_candidates(store, POLICY, AS_OF, fourth, now=1_700_010_800)
    (n,) = fourth.events
    assert (n["change"], n["kind"], n["vm_id"], n["episode"]) == ("new", "idle", "idle", 2)
    assert n["event_id"] not in {idle["event_id"], r["event_id"]}
    rows = store.rows(
        "SELECT change, count() FROM alert_events WHERE kind = 'idle' "
        "GROUP BY change ORDER BY change"
    )
    assert [(str(c), int(k)) for c, k in rows] == [("new", 2), ("resolved", 1)]


def test_crash_between_send_and_record_resends_same_ids(store: Store) -> None:
    plant_fleet(store)
    flaky = Outbox(fail_after=2)
    with pytest.raises(ConnectionError):
        evaluate_candidates(store, POLICY, AS_OF, flaky)
    assert len(flaky.sent) == 2
    assert store.scalar("SELECT count() FROM alert_state") == 0  # nothing recorded

    flushed: list[int] = []
    out = Outbox()
    s = evaluate_candidates(store, POLICY, AS_OF, out, flush=lambda: flushed.append(len(out.sent)))
    assert flushed == [5] and len(s.new) == 5
    ids = {e["event_id"] for e in out.events}
    assert {e["event_id"] for e in flaky.events} <= ids  # resent with the same ids
    assert evaluate_candidates(store, POLICY, AS_OF, Outbox()).events == []


def test_failed_flush_records_nothing(chdb_store: Store) -> None:
    plant_fleet(chdb_store, ["idle"])
    errors = sample("cloudtally_analytics_errors_total", task="alerts")

    def broken() -> None:
        raise TimeoutError("flush timed out")

    with pytest.raises(TimeoutError):
        evaluate_candidates(chdb_store, POLICY, AS_OF, Outbox(), flush=broken)
    assert sample("cloudtally_analytics_errors_total", task="alerts") == errors + 1
    assert chdb_store.scalar("SELECT count() FROM alert_state") == 0
    out = Outbox()
    evaluate_candidates(chdb_store, POLICY, AS_OF, out)
    assert keys(out.events) == {("idle", "idle", None), ("rightsizing", "idle", None)}


def test_alerts_through_the_broker(
    chdb_store: Store, broker: str, settings: Callable[..., Settings]
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    from cloudtally.broker.topics import ensure_topics

    s = settings()
    ensure_topics(s)
    plant_fleet(chdb_store)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    try:

        def send(key: bytes, value: bytes) -> None:
            producer.send(s.topic_alerts, key=key, value=value)

        evaluate_candidates(chdb_store, POLICY, AS_OF, send, flush=producer.flush)
        evaluate_candidates(chdb_store, POLICY, AS_OF, send, flush=producer.flush)  # no change
        set_level(chdb_store, "idle", dt.date(2023, 9, 28), 30.0, version=2)
        evaluate_candidates(chdb_store, POLICY, AS_OF, send, flush=producer.flush)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        s.topic_alerts,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    got: list[tuple[bytes, dict[str, Any]]] = []
    try:
        deadline = time.monotonic() + 20
        quiet_until = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                got.extend((r.key, json.loads(r.value)) for r in records)
            if len(got) >= 6 and quiet_until is None:
                quiet_until = time.monotonic() + 2  # keep reading: nothing more may come
            if quiet_until is not None and time.monotonic() > quiet_until:
                break
    finally:
        consumer.close()
    events = [e for _, e in got]
    assert len(events) == 6 and len({e["event_id"] for e in events}) == 6
    assert keys([e for e in events if e["change"] == "new"]) == EXPECTED_NEW
    assert [(e["kind"], e["vm_id"]) for e in events if e["change"] == "resolved"] == [
        ("idle", "idle")
    ]
    for key, e in got:
        VALIDATOR.validate(e)
        assert key == f"{e['kind']}/{e['vm_id']}/{e['disk_id'] or ''}".encode()
