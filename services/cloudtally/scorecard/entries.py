"""Manual entries in the store (migration 0140), each one also a ledger entry.

Subjects: an indicator code (its points, with a comment), ``budget`` (the year's budget
figures: cloudtally does not see the treasury) and ``survey`` (an imported survey's
answers). An entry is for a fiscal year and a provider and pool; '' stands for all,
and the most specific entry in force wins (pool, then provider, then programme).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudtally.core.access import Principal
from cloudtally.core.scorecard.inputs import ANSWERS, BudgetFigures, Entry, Survey
from cloudtally.core.scorecard.scheme import SchemeVersion
from cloudtally.store import Store

BUDGET_FIELDS = ("approved", "available", "paid", "reduced_to_other", "recovered")
COLUMNS = ["fiscal_year", "provider", "pool", "subject", "payload", "comment", "entered_by",
           "entered_at", "seq"]  # fmt: skip
MAX_COMMENT = 2000


class EntryError(ValueError):
    """An entry that cannot be recorded (unknown indicator, points out of range, …)."""


def _decimal(value: Any, name: str) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise EntryError(f"{name}: not a number: {value!r}") from None
    if not d.is_finite():
        raise EntryError(f"{name}: not a finite number: {value!r}")
    return d


def check_points(scheme: SchemeVersion, code: str, points: Any) -> Decimal:
    """Points of an indicator entry: within [0, weight] (a deduction: [weight, 0])."""
    ind = scheme.indicator(code)
    if ind is None:
        raise EntryError(f"no indicator {code!r} in scheme {scheme.version}")
    p = _decimal(points, "points")
    lo, hi = (ind.weight, Decimal(0)) if ind.weight < 0 else (Decimal(0), ind.weight)
    if not lo <= p <= hi:
        raise EntryError(f"{code}: points must be between {lo} and {hi}, not {p}")
    if p != p.quantize(Decimal("0.01")):
        raise EntryError(f"{code}: at most 2 decimal places")
    return p


def check_budget(figures: dict[str, Any]) -> dict[str, str]:
    unknown = sorted(set(figures) - set(BUDGET_FIELDS))
    if unknown:
        raise EntryError(f"budget: unknown figure(s) {', '.join(unknown)}; use {BUDGET_FIELDS}")
    out = {}
    for k, v in figures.items():
        if v is None or v == "":
            continue
        d = _decimal(v, k)
        if d < 0 or d != d.quantize(Decimal("0.01")):
            raise EntryError(f"budget.{k}: CNY ≥ 0 with at most 2 decimals, not {v}")
        out[k] = str(d)
    if not out:
        raise EntryError("budget: give at least one figure")
    return out


def record(
    store: Store,
    principal: Principal,
    *,
    fiscal_year: int,
    subject: str,
    payload: dict[str, Any],
    comment: str,
    provider: str = "",
    pool: str = "",
) -> dict[str, Any]:
    """Append one entry and its ledger entry (who, when, why)."""
    if not principal.can_write:
        raise EntryError("only the buyer (admin) records scorecard entries")
    text = " ".join(comment.split())
    if len(text) > MAX_COMMENT:
        raise EntryError(f"comment longer than {MAX_COMMENT} characters")
    seq = time.time_ns()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row = {
        "fiscal_year": fiscal_year, "provider": provider, "pool": pool, "subject": subject,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True), "comment": text,
        "entered_by": principal.name, "entered_at": now, "seq": seq,
    }  # fmt: skip
    store.insert("scorecard_entries", {k: [v] for k, v in row.items()})
    from cloudtally.audit.ledger import append

    append(
        store,
        "rows",
        {"table": "scorecard_entries", "where": {"fiscal_year": fiscal_year, "seq": seq},
         "columns": COLUMNS},
        actor=principal.name,
        reason=f"scorecard {fiscal_year} {provider or '*'}/{pool or '*'} {subject}: {text}",
    )  # fmt: skip
    return _out(row)


def enter_points(
    store: Store, principal: Principal, scheme: SchemeVersion, *, fiscal_year: int, code: str,
    points: Any, comment: str, provider: str = "", pool: str = "", evidence: str = "",
) -> dict[str, Any]:  # fmt: skip
    p = check_points(scheme, code, points)
    if not comment.strip():
        raise EntryError(f"{code}: a comment is required (what the points rest on)")
    return record(store, principal, fiscal_year=fiscal_year, subject=code,
                  payload={"points": str(p), "evidence": evidence[:500]}, comment=comment,
                  provider=provider, pool=pool)  # fmt: skip


def history(store: Store, fiscal_year: int) -> list[dict[str, Any]]:
    """Every entry of a fiscal year, oldest first (what the report's evidence cites)."""
    rows = store.dicts(
        f"SELECT {', '.join(COLUMNS)} FROM scorecard_entries WHERE fiscal_year = %(fy)s "
        "ORDER BY entered_at, seq",
        {"fy": fiscal_year},
    )
    return [_out(r) for r in rows]


def in_force(store: Store, fiscal_year: int, provider: str, pool: str) -> dict[str, dict[str, Any]]:
    """Per subject, the entry in force for this provider and pool (most specific, latest)."""
    best: dict[str, tuple[tuple[int, Any, int], dict[str, Any]]] = {}
    for r in history(store, fiscal_year):
        if r["provider"] not in ("", provider) or r["pool"] not in ("", pool):
            continue
        if r["pool"] and not r["provider"]:
            continue  # a pool id names a pool only together with its provider
        rank = (bool(r["provider"]) + bool(r["pool"]), r["entered_at"], r["seq"])
        if r["subject"] not in best or rank > best[r["subject"]][0]:
            best[r["subject"]] = (rank, r)
    return {s: r for s, (_, r) in best.items()}


def indicator_entries(found: dict[str, dict[str, Any]]) -> dict[str, Entry]:
    out = {}
    for subject, r in found.items():
        if subject in ("budget", "survey"):
            continue
        out[subject] = Entry(
            points=Decimal(r["payload"]["points"]), comment=r["comment"],
            entered_by=r["entered_by"], entered_at=r["entered_at"],
            evidence=str(r["payload"].get("evidence", "")),
        )  # fmt: skip
    return out


def budget_figures(found: dict[str, dict[str, Any]], approved: Decimal | None) -> BudgetFigures:
    """The budget entry's figures; ``approved`` and ``available`` default to the policy's
    programme budget of the year when the entry does not state them."""
    r = found.get("budget")
    f = {k: Decimal(v) for k, v in (r["payload"] if r else {}).items() if k in BUDGET_FIELDS}
    source = (f"entry by {r['entered_by']} at {r['entered_at']}" if r else "") + (
        "; approved from the policy budget" if "approved" not in f and approved else ""
    )
    return BudgetFigures(
        approved=f.get("approved", approved), available=f.get("available", approved),
        paid=f.get("paid"), reduced_to_other=f.get("reduced_to_other"),
        recovered=f.get("recovered"), source=source.strip("; "),
    )  # fmt: skip


def survey_of(found: dict[str, dict[str, Any]]) -> Survey | None:
    r = found.get("survey")
    if r is None:
        return None
    p = r["payload"]
    return Survey(
        {a: Decimal(p["answers"].get(a, "0")) for a in ANSWERS}, p["basis"],
        f"{p.get('file_name', '')} sha256 {p.get('sha256', '')[:12]}, imported by "
        f"{r['entered_by']} at {r['entered_at']}",
    )  # fmt: skip


def _out(row: dict[str, Any]) -> dict[str, Any]:
    at = row["entered_at"]
    if isinstance(at, dt.datetime):
        at = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    fy, seq = int(row["fiscal_year"]), int(row["seq"])
    return {**row, "payload": payload, "entered_at": at, "fiscal_year": fy, "seq": seq}
