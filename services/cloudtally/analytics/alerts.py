"""Automated under-utilization alerts: one event on the ``alerts`` topic per change.

A run computes the current idle, storage-idle and rightsizing candidates with
the policy's rules (:mod:`cloudtally.analytics.queries`), diffs them against
the open candidates recorded in ``alert_state`` and sends an event for each
candidate that is **new** and each open one that is **resolved** (no longer a
candidate). A candidate whose figures move but which stays a candidate sends
nothing: "no repeat alert while nothing changed". The state lives in
ClickHouse, so a restart of the process does not resend.

Delivery is at-least-once: events are sent (and flushed) first, then recorded
in ``alert_events`` and ``alert_state``. A crash between the two resends the
same events on the next run — with the same ``event_id``, which is derived
from (kind, vm_id, disk_id, change, window, episode) — so consumers dedupe by
``event_id``; an alert is never lost. One corner remains: if the crash falls
between sending and recording *and* the candidate stops qualifying before the
next run, the sent ``new`` is never followed by a ``resolved`` (the state never
knew it was open). The gauges and the API read current candidates and are not
affected.

Windows end at ``as_of`` 00:00 local time (exclusive), so they hold complete
days: idle = the ``idle.window_days`` days before ``as_of``; storage idle = the
last ``consecutive_months`` complete months; rightsizing = the last complete
quarter (:func:`cloudtally.core.idle.review_quarter`).

Savings are priced at the tariff in force on the window's last day, by the one
definition in :mod:`cloudtally.core.savings` (the API and the gauges use the
same). A pool missing from the tariff gives ``savings_year: null``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloudtally import metrics
from cloudtally.analytics.queries import (
    MAX_LIMIT,
    find_idle,
    find_rightsizing,
    find_storage_idle,
)
from cloudtally.core.idle import UnitPrices, VmWindowStats, month_start, review_quarter
from cloudtally.core.policy import Policy, Version
from cloudtally.core.savings import annual_prices
from cloudtally.store.base import Store

SCHEMA = "cloudtally.alert/1"
KINDS = ("idle", "storage_idle", "rightsizing")
# Fixed namespace of the event ids (uuid5): the same change always gets the same id.
EVENT_NAMESPACE = uuid.UUID("6b1f3c2e-3d0a-5d7e-9a61-0c7a1e2f4b90")
TASK = "alerts"

Send = Callable[[bytes, bytes], object]
Key = tuple[str, str, str]  # (kind, vm_id, disk_id), Candidate.key


# -- policy helpers -----------------------------------------------------------------------------


def local_day(as_of: dt.date | dt.datetime, policy: Policy) -> dt.date:
    """The local (policy timezone) date of ``as_of``; a date is taken as it is."""
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise ValueError("naive datetime as_of: attach a timezone or pass a date")
        return as_of.astimezone(policy.zone).date()
    return as_of


def version_for(policy: Policy, as_of: dt.date) -> Version:
    """The tariff version in force on the last complete day before ``as_of``."""
    last = as_of - dt.timedelta(days=1)
    instant = dt.datetime(last.year, last.month, last.day, tzinfo=policy.zone)
    return policy.version_at(instant)  # LookupError names the first version's date


class AnnualPrices:
    """Yearly price paid per vCPU and per GB of memory, by (provider, pool), of one version.

    Called by the rightsizing core with a VM's stats. A pool without a price
    yields zero prices and is remembered in ``unpriced``, so the caller can turn
    the savings into "unknown" instead of a misleading zero.
    """

    ZERO = UnitPrices(vcpu_year=Decimal(0), mem_gb_year=Decimal(0))

    def __init__(self, version: Version) -> None:
        self.version = version
        self.prices: dict[tuple[str, str], UnitPrices] = annual_prices(version)
        self.unpriced: set[tuple[str, str]] = set()

    def __call__(self, stats: VmWindowStats) -> UnitPrices:
        found = self.prices.get((stats.provider, stats.pool))
        if found is None:
            self.unpriced.add((stats.provider, stats.pool))
            return self.ZERO
        return found

    def priced(self, provider: str, pool: str) -> bool:
        return (provider, pool) in self.prices

    @property
    def basis(self) -> str:
        return (
            f"tariff {self.version.version}: catalog price per hour (monthly ÷ "
            f"{self.version.hours_per_month}) × 8760 h × tender discount"
        )

    @property
    def basis_params(self) -> dict[str, str]:
        """The figures of ``basis`` (the catalogue's ``event.price_basis``)."""
        return {
            "tariff": self.version.version,
            "hours_per_month": str(self.version.hours_per_month),
        }


# -- current candidates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateSet:
    """Every current candidate (``Candidate.as_dict()`` form) and the window of each kind."""

    as_of: dt.date
    windows: dict[str, dict[str, str]]  # kind -> {"start", "end"} (ISO dates, end exclusive)
    items: list[dict[str, Any]]  # sorted by (kind, vm_id, disk_id)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in self.items if c["kind"] == kind]

    def by_key(self) -> dict[Key, dict[str, Any]]:
        return {candidate_key(c): c for c in self.items}


def candidate_key(c: dict[str, Any]) -> Key:
    return (c["kind"], c["vm_id"], c.get("disk_id") or "")


def _all_pages(fetch: Callable[[int], dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """Every item of a paged query result (pages of MAX_LIMIT), and the first page."""
    first = fetch(0)
    items = list(first["items"])
    while len(items) < first["total"]:
        items.extend(fetch(len(items))["items"])
    return items, first


def current_candidates(store: Store, policy: Policy, as_of: dt.date | dt.datetime) -> CandidateSet:
    """Idle, storage-idle and rightsizing candidates as of ``as_of`` (see module doc)."""
    day = local_day(as_of, policy)
    version = version_for(policy, day)
    util = version.utilization

    idle, first = _all_pages(
        lambda off: find_idle(store, day, policy=util, limit=MAX_LIMIT, offset=off)
    )
    windows = {"idle": dict(first["window"])}

    storage, first = _all_pages(
        lambda off: find_storage_idle(store, day, policy=util, limit=MAX_LIMIT, offset=off)
    )
    months = first["months"]
    last_month = dt.date.fromisoformat(months[-1] + "-01")
    after = month_start(last_month, -1)
    windows["storage_idle"] = {"start": months[0] + "-01", "end": after.isoformat()}

    q0, q1 = review_quarter(day)
    prices = AnnualPrices(version)
    right, _ = _all_pages(
        lambda off: find_rightsizing(
            store,
            q0,
            q1,
            prices,
            policy=util,
            calendar=version.calendar,
            limit=MAX_LIMIT,
            offset=off,
        )
    )
    windows["rightsizing"] = {"start": q0.isoformat(), "end": q1.isoformat()}
    priced = []
    for c in right:
        evidence = dict(c["evidence"])
        # price_basis: English as written; _id + _params: told in a reader's language
        # (cloudtally.i18n.events), so an event on the topic is in neither language
        if prices.priced(c["provider"], c["pool"]):
            evidence["price_basis"] = prices.basis
            evidence["price_basis_id"] = "event.price_basis"
            evidence["price_basis_params"] = prices.basis_params
            priced.append(c | {"evidence": evidence})
        else:
            evidence["unit_prices_year"] = None
            evidence["price_basis"] = (
                f"no price for {c['provider']}/{c['pool']} in tariff {version.version}"
            )
            evidence["price_basis_id"] = "event.no_price"
            evidence["price_basis_params"] = {
                "provider": c["provider"],
                "pool": c["pool"],
                "tariff": version.version,
            }
            priced.append(c | {"evidence": evidence, "savings_year": None})

    items = sorted(
        [*idle, *storage, *priced], key=lambda c: (KINDS.index(c["kind"]), *candidate_key(c)[1:])
    )
    return CandidateSet(as_of=day, windows=windows, items=items)


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSummary:
    """What one evaluation did: the events sent (in order) and the state after it."""

    as_of: dt.date
    new: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    open: int  # open candidates after the run
    candidates: CandidateSet
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [*self.new, *self.resolved]


def event_id(kind: str, vm_id: str, disk_id: str, change: str, window: str, episode: int) -> str:
    """Deterministic id of one change of one candidate (consumers dedupe by it)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{kind}|{vm_id}|{disk_id}|{change}|{window}|{episode}"))


def event_key(kind: str, vm_id: str, disk_id: str) -> bytes:
    """Kafka key: every event of one candidate lands on one partition, in order."""
    return f"{kind}/{vm_id}/{disk_id}".encode()


def encode_event(event: dict[str, Any]) -> bytes:
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _window_label(window: dict[str, str]) -> str:
    return f"{window['start']}/{window['end']}"


def _open_state(store: Store) -> dict[Key, dict[str, Any]]:
    """The candidates whose latest recorded state is open (argMax: no FINAL+WHERE pitfalls)."""
    rows = store.dicts(
        """
        SELECT kind, vm_id, disk_id,
            argMax(status, version) AS cur_status, argMax(opened_at, version) AS o_opened,
            argMax(episode, version) AS o_episode, argMax(evidence, version) AS o_evidence,
            argMax(evidence_window, version) AS o_window,
            argMax(bureau, version) AS o_bureau, argMax(system, version) AS o_system,
            argMax(pool, version) AS o_pool, argMax(provider, version) AS o_provider,
            argMax(freed_vcpu, version) AS o_vcpu, argMax(freed_mem_gb, version) AS o_mem,
            argMax(freed_storage_gb, version) AS o_storage,
            argMax(savings_year, version) AS o_savings
        FROM alert_state
        GROUP BY kind, vm_id, disk_id
        HAVING cur_status = 'open'
        ORDER BY kind, vm_id, disk_id
        """
    )
    return {(r["kind"], r["vm_id"], r["disk_id"]): r for r in rows}


def _episodes(store: Store, keys: Iterable[Key]) -> dict[Key, int]:
    """Highest episode recorded for each of ``keys`` (a reopened candidate gets the next)."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = store.rows(
        """
        SELECT kind, vm_id, disk_id, max(episode) AS ep FROM alert_state
        WHERE vm_id IN %(vms)s GROUP BY kind, vm_id, disk_id
        """,
        {"vms": tuple(sorted({k[1] for k in wanted}))},
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows if (r[0], r[1], r[2]) in wanted}


def _epoch(value: Any) -> int:
    return int(value.timestamp()) if isinstance(value, dt.datetime) else int(value)


def _dec(value: Any) -> str | None:
    if value is None:
        return None
    d = Decimal(value)
    return str(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize())


def _new_event(
    c: dict[str, Any], window: dict[str, str], episode: int, as_of: dt.date, now: int
) -> dict[str, Any]:
    kind, vm_id, disk_id = candidate_key(c)
    return {
        "schema": SCHEMA,
        "event_id": event_id(kind, vm_id, disk_id, "new", _window_label(window), episode),
        "change": "new",
        "kind": kind,
        "vm_id": vm_id,
        "disk_id": disk_id or None,
        "bureau": c["bureau"],
        "system": c["system"],
        "pool": c["pool"],
        "provider": c["provider"],
        "as_of": as_of.isoformat(),
        "window": dict(window),
        "at": now,
        "opened_at": now,
        "resolved_at": None,
        "episode": episode,
        "freed_vcpu": int(c["freed_vcpu"]),
        "freed_mem_gb": c["freed_mem_gb"],
        "freed_storage_gb": c["freed_storage_gb"],
        "savings_year": c["savings_year"],
        "evidence": c["evidence"],
    }


def _resolved_event(
    key: Key, row: dict[str, Any], window: dict[str, str], as_of: dt.date, now: int
) -> dict[str, Any]:
    kind, vm_id, disk_id = key
    episode = int(row["o_episode"])
    return {
        "schema": SCHEMA,
        "event_id": event_id(kind, vm_id, disk_id, "resolved", _window_label(window), episode),
        "change": "resolved",
        "kind": kind,
        "vm_id": vm_id,
        "disk_id": disk_id or None,
        "bureau": row["o_bureau"],
        "system": row["o_system"],
        "pool": row["o_pool"],
        "provider": row["o_provider"],
        "as_of": as_of.isoformat(),
        "window": dict(window),  # the window in which it is no longer a candidate
        "at": now,
        "opened_at": _epoch(row["o_opened"]),
        "resolved_at": now,
        "episode": episode,
        "freed_vcpu": int(row["o_vcpu"]),
        "freed_mem_gb": _dec(row["o_mem"]),
        "freed_storage_gb": _dec(row["o_storage"]),
        "savings_year": None if row["o_savings"] is None else f"{Decimal(row['o_savings']):.2f}",
        "evidence": json.loads(row["o_evidence"]),  # as it was when the candidate opened
    }


def _record(store: Store, events: list[dict[str, Any]], as_of: dt.date, version: int) -> None:
    """Audit trail first, then the state that stops a resend (see module doc)."""
    if not events:
        return
    store.insert(
        "alert_events",
        {
            "event_id": [e["event_id"] for e in events],
            "at": [e["at"] for e in events],
            "as_of": [as_of] * len(events),
            "kind": [e["kind"] for e in events],
            "change": [e["change"] for e in events],
            "vm_id": [e["vm_id"] for e in events],
            "disk_id": [e["disk_id"] or "" for e in events],
            "bureau": [e["bureau"] for e in events],
            "system": [e["system"] for e in events],
            "pool": [e["pool"] for e in events],
            "provider": [e["provider"] for e in events],
            "payload": [encode_event(e).decode() for e in events],
        },
    )
    store.insert(
        "alert_state",
        {
            "kind": [e["kind"] for e in events],
            "vm_id": [e["vm_id"] for e in events],
            "disk_id": [e["disk_id"] or "" for e in events],
            "status": ["open" if e["change"] == "new" else "resolved" for e in events],
            "opened_at": [e["opened_at"] for e in events],
            "resolved_at": [e["resolved_at"] for e in events],
            "episode": [e["episode"] for e in events],
            "evidence_window": [_window_label(e["window"]) for e in events],
            "evidence": [json.dumps(e["evidence"], sort_keys=True, default=str) for e in events],
            "bureau": [e["bureau"] for e in events],
            "system": [e["system"] for e in events],
            "pool": [e["pool"] for e in events],
            "provider": [e["provider"] for e in events],
            "freed_vcpu": [e["freed_vcpu"] for e in events],
            "freed_mem_gb": [Decimal(e["freed_mem_gb"]) for e in events],
            "freed_storage_gb": [Decimal(e["freed_storage_gb"]) for e in events],
            "savings_year": [
                None if e["savings_year"] is None else Decimal(e["savings_year"]) for e in events
            ],
            "last_event_id": [e["event_id"] for e in events],
            "version": [version] * len(events),
        },
    )


def evaluate_candidates(
    store: Store,
    policy: Policy,
    as_of: dt.date | dt.datetime,
    send: Send,
    *,
    flush: Callable[[], object] | None = None,
    now: int | None = None,
) -> AlertSummary:
    """Send one event per new and per resolved candidate; record them; return what was done.

    ``send(key, value)`` hands one event (UTF-8 JSON, ``schemas/alert.schema.json``)
    to the transport; ``flush()``, when given, is called after the last send and
    must return only once every event is durable (e.g. a Kafka producer's
    ``flush``). Only then is the state recorded: at-least-once — a crash before
    recording resends the same events (same ``event_id``) next run, nothing is lost.
    Running again over unchanged data sends nothing. Counts
    ``cloudtally_utilization_alerts_total``; sets / counts the analytics metrics
    under task ``alerts``; re-raises any failure.
    """
    try:
        summary = _evaluate(store, policy, as_of, send, flush, now)
    except Exception:
        metrics.ANALYTICS_ERRORS.labels(TASK).inc()
        raise
    metrics.ANALYTICS_LAST_SUCCESS.labels(TASK).set_to_current_time()
    return summary


def _evaluate(
    store: Store,
    policy: Policy,
    as_of: dt.date | dt.datetime,
    send: Send,
    flush: Callable[[], object] | None,
    now: int | None,
) -> AlertSummary:
    t0 = time.perf_counter()
    day = local_day(as_of, policy)
    at = int(time.time()) if now is None else now
    found = current_candidates(store, policy, day)
    t1 = time.perf_counter()
    current = found.by_key()
    opened = _open_state(store)
    new_keys = sorted(k for k in current if k not in opened)
    gone_keys = sorted(k for k in opened if k not in current)
    episodes = _episodes(store, new_keys)
    new = [
        _new_event(current[k], found.windows[k[0]], episodes.get(k, 0) + 1, day, at)
        for k in new_keys
    ]
    resolved = [_resolved_event(k, opened[k], found.windows[k[0]], day, at) for k in gone_keys]
    events = [*new, *resolved]
    for e in events:
        send(event_key(e["kind"], e["vm_id"], e["disk_id"] or ""), encode_event(e))
    if events and flush is not None:
        flush()
    t2 = time.perf_counter()
    if events:
        last = store.scalar("SELECT max(version) FROM alert_state") or 0
        _record(store, events, day, max(int(time.time() * 1000), int(last) + 1))
    for e in events:
        metrics.UTILIZATION_ALERTS.labels(e["kind"], e["change"]).inc()
    t3 = time.perf_counter()
    return AlertSummary(
        as_of=day,
        new=new,
        resolved=resolved,
        open=len(opened) - len(resolved) + len(new),
        candidates=found,
        seconds=t3 - t0,
        timings={"candidates": t1 - t0, "diff_send": t2 - t1, "record": t3 - t2},
    )
