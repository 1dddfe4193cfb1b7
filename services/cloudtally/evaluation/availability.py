"""Availability evidence from the store, for :mod:`cloudtally.core.availability`.

Per VM and period the adapter asks the store these things, each in one query:

* **exists** — the VM's ownership periods (:mod:`cloudtally.queries.ownership`): for a
  bureau only the time it owned the VM, so a bureau never sees another's downtime;
* **sources** — which collectors ever delivered the VM's samples (in the period or the
  90 days before it: a VM down for the whole period still has a known source);
* **listening** — those sources' heartbeat windows ``[data_from, data_until + interval)``
  without errors, up to the source's watermark (the least over partitions of the
  greatest stored ``data_until``: what the store vouches for, principle 8); *interval*
  is the one the source was scraping at ``data_until`` (from its samples' declared
  intervals per hour, core.source_interval_at), not the largest it ever declared;
* **answered** — from the VM's samples, computed in SQL as first / last sample, the
  silences longer than the tolerance at each sample's own interval and the times the
  interval changed, so a year of samples never leaves the store;
* **created** — the VM's first inventory event: it is not expected to answer before its
  first scrape (the creation edge, core.answered_from_silences);
* **placements** — where the VM was over time (core.placement): a month is cut where it
  moved, and each part (its downtime, its incidents) is labelled with the bureau, system,
  pool and provider of that time, never the latest; a pool or provider scope keeps only
  the time the VM was there.

Everything that decides up, down or gap is the pure core's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.core.availability import (
    Assessment,
    Bucket,
    Span,
    VmEvidence,
    answered_from_silences,
    heard_spans,
    intersect,
    merge,
    month_periods,
    split_placed,
)
from cloudtally.core.placement import ATTRIBUTES, PlaceEvent, Placement, placements_from_events
from cloudtally.core.policy import Policy
from cloudtally.core.sla import Measurement, SlaVersion
from cloudtally.queries.ownership import ownership
from cloudtally.store import Store

SOURCE_LOOKBACK_S = 90 * 86400


@dataclass(frozen=True)
class Scope:
    start: int
    end: int
    bureau: str | None = None
    vm_id: str | None = None
    pool: str | None = None
    provider: str | None = None


def measurement(policy: Policy, at: int) -> Measurement:
    v = sla_version(policy, at)
    return v.measurement if v else Measurement()


def sla_version(policy: Policy, at: int) -> SlaVersion | None:
    levels = policy.service_levels
    if levels is None:
        return None
    return levels.at(dt.datetime.fromtimestamp(at, policy.zone).date())


def _exists(store: Store, scope: Scope) -> dict[str, list[Span]]:
    periods = ownership(store, bureau=scope.bureau, vm_id=scope.vm_id)
    out: dict[str, list[Span]] = {}
    for vm, ps in periods.items():
        spans = merge(
            (max(scope.start, int(p.start.timestamp())), min(scope.end, int(p.end.timestamp())))
            for p in ps
        )
        if spans:
            out[vm] = spans
    return out


def _placements(store: Store, vm_ids: set[str], end: int) -> dict[str, list[Placement]]:
    """VM → where it was over time (core.placement), from its inventory events before
    ``end``: each incident and minute is labelled with the place of its own time."""
    if not vm_ids:
        return {}
    vm_where, vms = _vm_filter(vm_ids)
    rows = store.rows(
        f"""
        SELECT vm_id, toUInt32(event_ts), event = 'deleted', bureau, system, pool, provider
        FROM vm_inventory FINAL
        WHERE {vm_where} AND event_ts < toDateTime(%(end)s, 'UTC')
        ORDER BY vm_id, event_ts
        """,
        {"vms": vms, "end": end},
    )
    events: dict[str, list[PlaceEvent]] = defaultdict(list)
    for vm, ts, deleted, *place in rows:
        if vm in vm_ids:
            events[vm].append(PlaceEvent(int(ts), *map(str, place), deleted=bool(deleted)))
    return {vm: placements_from_events(vm, evs) for vm, evs in events.items()}


def _sources(store: Store, scope: Scope) -> dict[str, set[str]]:
    """VM → the sources that delivered its samples (in the period or the 90 days before)."""
    rows = store.rows(
        """
        SELECT DISTINCT vm_id, source
        FROM samples
        WHERE ts >= toDateTime(%(lo)s, 'UTC') AND ts < toDateTime(%(end)s, 'UTC')
        """,
        {"lo": max(0, scope.start - SOURCE_LOOKBACK_S), "end": scope.end},
    )
    by_vm: dict[str, set[str]] = defaultdict(set)
    for vm, src in rows:
        by_vm[vm].add(src)
    return by_vm


def _beats(store: Store, sources: set[str], scope: Scope) -> dict[str, list[Span]]:
    """Source → its stored, error-free heartbeat windows ``(data_from, data_until)``."""
    if not sources:
        return {}
    marks = store.rows(
        """
        SELECT source, min(until) FROM (
            SELECT source, partition, toUInt32(max(data_until)) AS until
            FROM collector_heartbeats
            WHERE source IN %(sources)s
            GROUP BY source, partition
        ) GROUP BY source
        """,
        {"sources": tuple(sorted(sources))},
    )
    watermark = {r[0]: int(r[1]) for r in marks}
    rows = store.rows(
        """
        SELECT source, toUInt32(data_from), toUInt32(data_until), sum(errors)
        FROM collector_heartbeats FINAL
        WHERE source IN %(sources)s
          AND data_until >= toDateTime(%(lo)s, 'UTC') AND data_from < toDateTime(%(end)s, 'UTC')
        GROUP BY source, data_from, data_until
        ORDER BY source, data_from
        """,
        {"sources": tuple(sorted(sources)), "lo": max(0, scope.start - 3600), "end": scope.end},
    )
    out: dict[str, list[Span]] = defaultdict(list)
    for src, a, b, errors in rows:
        if int(errors) or src not in watermark or int(b) > watermark[src]:
            continue  # a window with failed queries, or beyond what the store vouches for
        out[src].append((int(a), int(b)))
    return out


IN_LIMIT = 2000
_IV_BITS = 1048576  # a sample is sorted as ts × 2^20 + its interval (any ClickHouse)


def _vm_filter(vm_ids: set[str]) -> tuple[str, tuple[str, ...]]:
    """``vm_id IN (...)`` for a small set; a large one scans and the caller filters."""
    if len(vm_ids) > IN_LIMIT:
        return "1", ()
    return "vm_id IN %(vms)s", tuple(sorted(vm_ids))


@dataclass(frozen=True)
class _Samples:
    """One VM's samples in the store's compact form (core.answered_from_silences)."""

    first: int
    last: int
    silences: list[tuple[int, int]]
    runs: list[tuple[int, int]]


def _samples(
    store: Store, vm_ids: set[str], scope: Scope, default_iv: int, tolerance: int
) -> dict[str, _Samples]:
    """VM → first and last sample, the silences longer than the tolerance at the interval
    in force (each sample's own, undeclared = the policy default) and the interval runs.

    groupArray, not groupUniqArray (2× faster measured): a sample stored twice (read
    without FINAL) is a zero difference, never a silence."""
    if not vm_ids:
        return {}
    vm_where, vms = _vm_filter(vm_ids)
    rows = store.rows(
        f"""
        SELECT vm_id, times[1], times[length(times)],
            arrayFilter((a, b, i) -> b - a >= %(k)s * i, prev, next, prev_iv),
            arrayFilter((b, a, i) -> b - a >= %(k)s * i, next, prev, prev_iv),
            arrayFilter((t, i, p) -> i != p, times, ivs, shifted),
            arrayFilter((i, p) -> i != p, ivs, shifted)
        FROM (
            SELECT vm_id, times, ivs,
                   arrayPopBack(times) AS prev, arrayPopFront(times) AS next,
                   arrayPopBack(ivs) AS prev_iv, arrayPushFront(arrayPopBack(ivs), 0) AS shifted
            FROM (
                SELECT vm_id, arrayMap(x -> intDiv(x, {_IV_BITS}), keys) AS times,
                       arrayMap(x -> modulo(x, {_IV_BITS}), keys) AS ivs
                FROM (
                    SELECT vm_id, arraySort(groupArray(
                        toUInt64(toUInt32(ts)) * {_IV_BITS}
                        + if(interval_s = 0, %(dflt)s, least(interval_s, {_IV_BITS - 1}))
                    )) AS keys
                    FROM samples
                    WHERE {vm_where}
                      AND ts >= toDateTime(%(start)s, 'UTC') AND ts < toDateTime(%(end)s, 'UTC')
                    GROUP BY vm_id
                )
            )
        )
        """,
        {
            "vms": vms,
            "start": max(0, scope.start - 3600),
            "end": scope.end,
            "k": tolerance + 1,  # b − a − interval ≥ tolerance × interval
            "dflt": default_iv,
        },
    )
    out = {}
    for vm, first, last, g_from, g_to, r_ts, r_iv in rows:
        if vm not in vm_ids:
            continue
        out[vm] = _Samples(
            int(first),
            int(last),
            list(zip((int(x) for x in g_from), (int(x) for x in g_to), strict=True)),
            list(zip((int(x) for x in r_ts), (int(x) for x in r_iv), strict=True)),
        )
    return out


def _created(store: Store, vm_ids: set[str]) -> dict[str, int]:
    """VM → its first inventory event (its creation), for the creation edge."""
    vm_where, vms = _vm_filter(vm_ids)
    rows = store.rows(
        f"SELECT vm_id, toUInt32(min(event_ts)) FROM vm_inventory WHERE {vm_where} GROUP BY vm_id",
        {"vms": vms},
    )
    return {r[0]: int(r[1]) for r in rows if r[0] in vm_ids}


def _buckets(
    store: Store, sources: set[str], scope: Scope, default_iv: int
) -> dict[str, list[Bucket]]:
    """Source → per hour and declared interval: first and last sample (sorted), for the
    interval each beat is extended by (core.source_interval_at)."""
    if not sources:
        return {}
    rows = store.rows(
        """
        SELECT source, toUInt32(min(ts)) AS lo, toUInt32(max(ts)),
               if(interval_s = 0, %(dflt)s, toUInt32(interval_s))
        FROM samples
        WHERE source IN %(sources)s
          AND ts >= toDateTime(%(lo)s, 'UTC') AND ts < toDateTime(%(end)s, 'UTC')
        GROUP BY source, toStartOfHour(ts), interval_s
        ORDER BY source, lo
        """,
        {
            "sources": tuple(sorted(sources)),
            "lo": max(0, scope.start - 2 * 3600),
            "end": scope.end,
            "dflt": default_iv,
        },
    )
    out: dict[str, list[Bucket]] = defaultdict(list)
    for src, lo, hi, iv in rows:
        out[src].append((int(lo), int(hi), int(iv)))
    return out


def _in_place(spans: list[Span], places: list[Placement], scope: Scope) -> list[Span]:
    """The spans, restricted to the time the VM was in the scope's pool and provider."""
    if not (scope.pool or scope.provider):
        return spans
    wanted = [
        (p.start, p.end)
        for p in places
        if (not scope.pool or p.pool == scope.pool)
        and (not scope.provider or p.provider == scope.provider)
    ]
    return intersect(spans, merge(wanted))


def evidence(
    store: Store, policy: Policy, scope: Scope
) -> tuple[dict[str, VmEvidence], dict[str, list[Placement]]]:
    """One :class:`VmEvidence` per VM in scope (a bureau: the time it owned the VM; a pool
    or provider: the time the VM was there), and each VM's placements."""
    meas = measurement(policy, scope.end - 1)
    exists = _exists(store, scope)
    places = _placements(store, set(exists), scope.end)
    for vm in list(exists):
        exists[vm] = _in_place(exists[vm], places.get(vm, []), scope)
        if not exists[vm]:
            del exists[vm]
    if not exists:
        return {}, places
    vm_sources = _sources(store, scope)
    wanted = {s for vm in exists for s in vm_sources.get(vm, ())}
    beats = _beats(store, wanted, scope)
    dflt, tol = meas.default_interval_s, meas.tolerance_samples
    samples = _samples(store, set(exists), scope, dflt, tol)
    created = _created(store, set(exists))
    buckets = _buckets(store, wanted, scope, dflt)
    heard = {src: heard_spans(bs, buckets.get(src, []), dflt) for src, bs in beats.items()}
    out = {}
    for vm, spans in exists.items():
        smp = samples.get(vm)
        runs = smp.runs if smp else []
        answered: list[Span] = []
        if smp:
            answered = answered_from_silences(
                smp.first, smp.last, smp.silences, runs, dflt,
                created=created.get(vm), tolerance_samples=tol,
            )  # fmt: skip
        listening = merge(x for src in vm_sources.get(vm, ()) for x in heard.get(src, ()))
        out[vm] = VmEvidence(vm, spans, listening, answered)
    return out, places


def assess(store: Store, policy: Policy, scope: Scope) -> Assessment:
    """Per VM, local calendar month of the scope and place (a move cuts the month):
    up, down, gap and incidents, each labelled with the VM's place at the time."""
    ev, places = evidence(store, policy, scope)
    periods = month_periods(scope.start, scope.end, policy.zone)
    result = Assessment()
    for vm in sorted(ev):
        result.per_vm.extend(split_placed(ev[vm], periods, places.get(vm, [])))
    return result


def target_for(policy: Policy, at: int, pool: str = "", service: str = "compute") -> Decimal | None:
    v = sla_version(policy, at)
    return v.target(service, pool) if v else None


def fiscal_year_span(policy: Policy, fy: int) -> tuple[int, int]:
    d0, d1 = policy.fiscal_year_range(fy)
    z = policy.zone
    return (
        int(dt.datetime(d0.year, d0.month, d0.day, tzinfo=z).timestamp()),
        int(dt.datetime(d1.year, d1.month, d1.day, tzinfo=z).timestamp()),
    )


def month_span(policy: Policy, month: dt.date) -> tuple[int, int]:
    z = policy.zone
    nxt = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return (
        int(dt.datetime(month.year, month.month, 1, tzinfo=z).timestamp()),
        int(dt.datetime(nxt.year, nxt.month, 1, tzinfo=z).timestamp()),
    )


def report(
    store: Store, policy: Policy, scope: Scope, *, by: str = "pool", incidents: bool = True
) -> dict[str, Any]:
    """Availability per month and over the whole scope, grouped ``by`` an attribute, with
    the policy's target and the incidents as evidence (the API's and CLI's document)."""
    from cloudtally.core.availability import aggregate, compare

    a = assess(store, policy, scope)
    group_key = None if by == "all" else ("vm_id" if by == "vm" else by)
    months = []
    for (month, g), fig in a.figures(group_key).items():
        m0, _ = month_span(policy, month)
        target = target_for(policy, m0, g if by == "pool" else "")
        row: dict[str, Any] = {"month": month.isoformat(), by: g, **fig.as_dict()}
        if target is not None:
            row["target"] = compare(fig, target).as_dict()
        months.append(row)
    totals: dict[str, list[Any]] = defaultdict(list)
    for _, v in a.per_vm:
        totals["" if group_key is None else v.label(group_key)].append(v)
    whole = []
    for g, items in sorted(totals.items()):
        fig = aggregate(items)
        target = target_for(policy, scope.end - 1, g if by == "pool" else "")
        row = {by: g, **fig.as_dict()}
        if target is not None:
            row["target"] = compare(fig, target).as_dict()
        whole.append(row)
    doc: dict[str, Any] = {
        "from": scope.start,
        "to": scope.end,
        "by": by,
        "months": months,
        "period": whole,
    }
    if incidents:
        doc["incidents"] = [
            {
                "month": m.isoformat(),
                **i.as_dict(),
                **{k: v.label(k) for k in ATTRIBUTES},
            }
            for m, i, v in a.placed_incidents()
        ]
    return doc
