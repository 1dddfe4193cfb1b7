"""Rounds in the store: every act is a row with who and when (migration 0080).

Open: the buyer snapshots the idle and rightsizing candidates of a review window
(all bureaus) with each VM's size and average daily bill. Decide: a bureau accepts
or declines its own items. Work order: the accepted items. Verify: for the accepted
items of a round, the inventory now and the bills since the round opened.
The bureau scope is applied in every read (``bureau``: the principal's scope).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from cloudtally.analytics.queries import MAX_LIMIT, find_idle, find_rightsizing
from cloudtally.billing.drill import daily_average
from cloudtally.core.access import Principal
from cloudtally.core.idle import UnitPrices, VmWindowStats
from cloudtally.core.policy import Policy
from cloudtally.core.rounds import check_decision, outcome
from cloudtally.queries.inventory import get_vm, own_views, vm_sizes
from cloudtally.store.base import Store

KINDS = ("rightsizing", "idle")


class RoundError(ValueError):
    """A round act that is not allowed (closed round, unknown item, another bureau's)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def list_rounds(store: Store) -> list[dict[str, Any]]:
    return store.dicts(
        """SELECT round_id, quarter, review_from, review_to, status, opened_by, opened_at,
            closed_by, closed_at, previous_round, tariff_version
        FROM rightsizing_rounds FINAL ORDER BY opened_at DESC, round_id DESC"""
    )


def get_round(store: Store, round_id: str) -> dict[str, Any] | None:
    rows = [r for r in list_rounds(store) if r["round_id"] == round_id]
    return rows[0] if rows else None


def _write_round(store: Store, r: dict[str, Any]) -> None:
    store.insert(
        "rightsizing_rounds",
        {k: [v] for k, v in r.items()} | {"version": [time.time_ns()]},
    )


def open_round(
    store: Store,
    policy: Policy,
    principal: Principal,
    review_from: dt.date,
    review_to: dt.date,
    *,
    quarter: str,
    prices: Callable[[VmWindowStats], UnitPrices],
    tariff_version: str = "",
) -> str:
    """Snapshot the candidates of [review_from, review_to) into a new open round."""
    if not principal.can_write:
        raise RoundError("only the buyer (admin) opens a round")
    at = dt.datetime(review_to.year, review_to.month, review_to.day, tzinfo=policy.zone)
    try:
        version = policy.version_at(at - dt.timedelta(days=1))
    except LookupError:
        version = policy.versions[0]
    util = version.utilization
    right = find_rightsizing(
        store, review_from, review_to, prices, policy=util, calendar=version.calendar,
        limit=MAX_LIMIT,
    )["items"]  # fmt: skip
    idle = find_idle(store, review_to, policy=util, limit=MAX_LIMIT)["items"]
    picked: dict[tuple[str, str], dict[str, Any]] = {}
    for c in idle + right:  # idle first: reclaiming beats downsizing the same VM
        if not any(key[1] == c["vm_id"] for key in picked):
            picked[(c["kind"], c["vm_id"])] = c
    vms = [vm for _, vm in picked]
    before = daily_average(store, review_from, review_to, vms)
    round_id = f"R{review_from:%Y%m%d}-{uuid.uuid4().hex[:6]}"
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "round_id", "kind", "vm_id", "bureau", "system", "pool", "provider", "vcpu",
            "mem_gb", "target_vcpu", "target_mem_gb", "freed_vcpu", "freed_mem_gb",
            "savings_year", "daily_cost_before", "evidence",
        )
    }  # fmt: skip
    unsized = [
        vm
        for (_, vm), c in picked.items()
        if not {"current_vcpu", "current_mem_gb"} <= c["evidence"].keys()
    ]
    sizes = vm_sizes(store, unsized)
    for (kind, vm_id), c in sorted(picked.items()):
        ev = c["evidence"]
        vcpu0, mem0 = sizes.get(vm_id, (0, 0))
        vcpu = int(ev.get("current_vcpu", vcpu0))
        mem = Decimal(str(ev.get("current_mem_gb", mem0)))
        target_vcpu = int(ev.get("target_vcpu", 0)) if kind == "rightsizing" else 0
        target_mem = Decimal(str(ev.get("target_mem_gb", 0))) if kind == "rightsizing" else 0
        daily = before.get(vm_id, Decimal("0.00"))
        saving = c["savings_year"]
        if saving is None and kind == "idle":  # reclaiming saves the whole bill
            saving = daily * 365
        row = {
            "round_id": round_id, "kind": kind, "vm_id": vm_id, "bureau": c["bureau"],
            "system": c["system"], "pool": c["pool"], "provider": c["provider"],
            "vcpu": vcpu, "mem_gb": mem, "target_vcpu": target_vcpu,
            "target_mem_gb": Decimal(target_mem), "freed_vcpu": int(c["freed_vcpu"]),
            "freed_mem_gb": Decimal(c["freed_mem_gb"]),
            "savings_year": None if saving is None else Decimal(saving),
            "daily_cost_before": daily,
            "evidence": json.dumps(ev, default=str, ensure_ascii=False),
        }  # fmt: skip
        for k, v in row.items():
            cols[k].append(v)
    if cols["round_id"]:
        store.insert("rightsizing_round_items", cols)
    previous = [r for r in list_rounds(store)]
    for r in previous:
        if r["status"] == "open":
            _write_round(store, {**r, "status": "closed", "closed_by": principal.name,
                                 "closed_at": _now()})  # fmt: skip
    _write_round(
        store,
        {
            "round_id": round_id, "quarter": quarter, "review_from": review_from,
            "review_to": review_to, "status": "open", "opened_by": principal.name,
            "opened_at": _now(), "closed_by": "", "closed_at": None,
            "previous_round": previous[0]["round_id"] if previous else "",
            "tariff_version": tariff_version,
        },
    )  # fmt: skip
    return round_id


def items(
    store: Store, round_id: str, *, bureau: str | None = None, decision: str | None = None
) -> list[dict[str, Any]]:
    """The round's items (a bureau: its own) with the decision in force, biggest saving first."""
    params: dict[str, Any] = {"r": round_id}
    scope = ""
    if bureau is not None:
        scope = "AND bureau = %(bureau)s"
        params["bureau"] = bureau
    rows = store.dicts(
        f"""SELECT round_id, kind, vm_id, bureau, system, pool, provider, vcpu, mem_gb,
            target_vcpu, target_mem_gb, freed_vcpu, freed_mem_gb, savings_year,
            daily_cost_before, evidence
        FROM rightsizing_round_items FINAL WHERE round_id = %(r)s {scope}""",
        params,
    )
    decided = {
        (d["kind"], d["vm_id"]): d
        for d in store.dicts(
            f"""SELECT kind, vm_id, argMax(decision, (decided_at, seq)) AS d_decision,
                argMax(reason, (decided_at, seq)) AS d_reason,
                argMax(decided_by, (decided_at, seq)) AS d_by,
                max(decided_at) AS d_at, count() AS changes
            FROM rightsizing_decisions WHERE round_id = %(r)s {scope}
            GROUP BY kind, vm_id""",
            params,
        )
    }
    out = []
    for r in rows:
        d = decided.get((r["kind"], r["vm_id"]))
        r["evidence"] = json.loads(r["evidence"] or "{}")
        r["decision"] = d["d_decision"] if d else None
        r["reason"] = d["d_reason"] if d else ""
        r["decided_by"] = d["d_by"] if d else ""
        r["decided_at"] = d["d_at"] if d else None
        if decision is None or r["decision"] == decision:
            out.append(r)
    return sorted(out, key=lambda r: (-(r["savings_year"] or Decimal(0)), r["vm_id"]))


def decide(
    store: Store,
    round_id: str,
    kind: str,
    vm_id: str,
    decision: str,
    reason: str,
    principal: Principal,
) -> dict[str, Any]:
    """Record a bureau's decision on one of its items (the buyer may record one for it)."""
    choice, text = check_decision(decision, reason)
    rnd = get_round(store, round_id)
    if rnd is None:
        raise RoundError(f"no round {round_id!r}")
    if rnd["status"] != "open":
        raise RoundError(f"round {round_id} is closed")
    if principal.role == "auditor":
        raise RoundError("an auditor reads rounds but does not decide")
    found = [i for i in items(store, round_id, bureau=principal.scope) if i["kind"] == kind
             and i["vm_id"] == vm_id]  # fmt: skip
    if not found:
        raise RoundError(f"no item {kind} {vm_id} in round {round_id} for you")
    seq = time.time_ns()
    store.insert(
        "rightsizing_decisions",
        {
            "round_id": [round_id], "kind": [kind], "vm_id": [vm_id],
            "bureau": [found[0]["bureau"]], "decision": [choice], "reason": [text],
            "decided_by": [principal.name], "decided_at": [_now()], "seq": [seq],
        },
    )  # fmt: skip
    from cloudtally.audit.ledger import append  # a decision is an act the buyer relies on

    append(
        store,
        "rows",
        {
            "table": "rightsizing_decisions",
            "where": {"round_id": round_id, "kind": kind, "vm_id": vm_id, "seq": seq},
            "columns": ["round_id", "kind", "vm_id", "bureau", "decision", "reason",
                        "decided_by", "decided_at", "seq"],
        },
        actor=principal.name,
        reason=f"{choice}: {text}",
    )  # fmt: skip
    return {**found[0], "decision": choice, "reason": text, "decided_by": principal.name}


WORK_ORDER_KEYS = [
    "round_id", "provider", "pool", "bureau", "system", "vm_id", "kind", "vcpu", "mem_gb",
    "target_vcpu", "target_mem_gb", "freed_vcpu", "freed_mem_gb", "savings_year", "reason",
    "decided_by", "decided_at",
]  # fmt: skip


def work_order(store: Store, round_id: str) -> list[dict[str, Any]]:
    """The accepted items, by provider and pool: what the providers are asked to do."""
    rows = items(store, round_id, decision="accepted")
    return sorted(rows, key=lambda r: (r["provider"], r["pool"], r["bureau"], r["vm_id"]))


def moved_at(own: dict[str, Any] | None) -> dt.datetime | None:
    """When a bureau's own view of a VM (``get_vm(bureau=...)``) says it moved to another
    bureau: its last ownership period ended without the VM being deleted."""
    if own is None or own["last_event"] == "deleted" or not own["ownership"]:
        return None
    end: dt.datetime | None = own["ownership"][-1]["to"]
    return end


def verify(
    store: Store, round_id: str, as_of: dt.date, *, bureau: str | None = None
) -> dict[str, Any]:
    """Each accepted item of ``round_id``: what the inventory shows now and what the bills
    saved (average daily bill from the day after the round opened to ``as_of``, against
    the review window's), with totals per bureau and overall.

    An item is judged by the deciding bureau's own view of the VM: a VM that moved to
    another bureau after the round counts by its state and its bills up to the move (a
    resize by the new owner is not the decider's doing), for the buyer as for the bureau,
    and says when it moved (``moved_at``; the buyer also sees ``moved_to``)."""
    rnd = get_round(store, round_id)
    if rnd is None:
        raise RoundError(f"no round {round_id!r}")
    accepted = items(store, round_id, bureau=bureau, decision="accepted")
    start = rnd["opened_at"].date() + dt.timedelta(days=1)
    after = daily_average(store, start, as_of, [i["vm_id"] for i in accepted], bureau=bureau)
    own = own_views(store, [(i["vm_id"], i["bureau"]) for i in accepted])
    views = {i["vm_id"]: own[(i["vm_id"], i["bureau"])] for i in accepted}
    moved = {v: t for v, vm in views.items() if (t := moved_at(vm)) is not None}
    deciders: dict[str, list[str]] = {}
    for i in accepted:
        if i["vm_id"] in moved:
            deciders.setdefault(i["bureau"], []).append(i["vm_id"])
    for b, ids in deciders.items():  # a moved VM's bills: the decider's only
        for v in ids:
            after.pop(v, None)
        after.update(daily_average(store, start, as_of, ids, bureau=b))
    results, per_bureau = [], {}
    for i in accepted:
        vm = views[i["vm_id"]]
        deleted = vm is None or vm["last_event"] == "deleted"
        o = outcome(
            i["kind"], vcpu=int(i["vcpu"]), mem_gb=Decimal(i["mem_gb"]),
            target_vcpu=int(i["target_vcpu"]), target_mem_gb=Decimal(i["target_mem_gb"]),
            now_vcpu=None if deleted else int(vm["vcpu"]),  # type: ignore[index]
            now_mem_gb=None if deleted else Decimal(vm["mem_gb"]),  # type: ignore[index]
            deleted=deleted, daily_before=Decimal(i["daily_cost_before"]),
            daily_after=after.get(i["vm_id"]),
        )  # fmt: skip
        row = {**i, **o.as_dict(), "now_vcpu": None if deleted else vm["vcpu"],  # type: ignore[index]
               "now_mem_gb": None if deleted else vm["mem_gb"],  # type: ignore[index]
               "moved_at": moved.get(i["vm_id"]), "moved_to": None}  # fmt: skip
        if row["moved_at"] is not None and bureau is None:
            now = get_vm(store, i["vm_id"])
            row["moved_to"] = now["bureau"] if now else None
        results.append(row)
        b = per_bureau.setdefault(
            i["bureau"], {"bureau": i["bureau"], "accepted": 0, "implemented": 0,
                          "saved_month": Decimal("0.00")}
        )  # fmt: skip
        b["accepted"] += 1
        b["implemented"] += o.implementation in ("done", "reclaimed")
        b["saved_month"] += o.saved_month or Decimal(0)
    total = {
        "accepted": len(results),
        "implemented": sum(b["implemented"] for b in per_bureau.values()),
        "saved_month": sum((b["saved_month"] for b in per_bureau.values()), Decimal("0.00")),
    }
    return {
        "round_id": round_id, "since": start.isoformat(), "as_of": as_of.isoformat(),
        "items": results, "bureaus": sorted(per_bureau.values(), key=lambda b: b["bureau"]),
        "total": total,
    }  # fmt: skip
