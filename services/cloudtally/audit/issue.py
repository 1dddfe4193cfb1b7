"""Issued months and restatements (红冲): a closed month is never overwritten.

Closing a month *issues* it: revision 0 records which bill lines (by run) and which final
provider-level lines the statement consists of, and appends a ``month_closed`` ledger
entry. Anything that changes the month afterwards (late data, a corrected tariff, a
dispute outcome) is issued as a *restatement*: revision n, with a reason and a reference
to what caused it, correction lines (the reversal of every line that changed or went
away, the replacement of every line that changed or appeared) and a ``restatement``
ledger entry. Revisions only accumulate, so the original stays readable, and
original + Σ corrections = the latest revision, to the fen.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.audit import ledger
from cloudtally.audit.subjects import (
    BILL_LINE_COLUMNS,
    STATEMENT_LINE_COLUMNS,
    issued_bill_lines,
    month_issued,
)
from cloudtally.billing.rate import current_filter
from cloudtally.core.hashchain import Part
from cloudtally.core.statements import month_bounds
from cloudtally.i18n import translate
from cloudtally.store import Store

ZERO = Decimal("0.00")
KEY = ("vm_id", "day", "resource", "tariff_version")
COMPARED = ("bureau", "system", "pool", "provider", "quantity", "list_amount", "after_discount",
            "after_cut", "unit_price", "price_divisor", "adjustments")  # fmt: skip


class IssueError(ValueError):
    """A close or restatement that must not happen as asked (the message says why)."""


class NothingToRestate(IssueError):
    """A re-close of an issued month whose lines and tiers are unchanged."""


def check_can_issue(store: Store, month: dt.date, reason: str) -> None:
    """Refuse, before anything is written, a change to a closed month without a reason."""
    prev = latest_revision(store, month)
    if prev is not None and not reason.strip():
        raise IssueError(
            f"{month_bounds(month)[0]:%Y-%m} is closed (revision {prev}); a change after close "
            "is a restatement and needs a reason (and a reference to what caused it)"
        )


@dataclass(frozen=True)
class Issued:
    month: dt.date
    revision: int
    kind: str
    reversals: int
    replacements: int
    lines_total: Decimal
    adjustments_total: Decimal
    total: Decimal
    ledger_seq: int
    ledger_hash: str


def latest_revision(store: Store, month: dt.date) -> int | None:
    n = store.scalar(
        "SELECT count() FROM issued_months WHERE month = %(m)s", {"m": month_bounds(month)[0]}
    )
    if not n:
        return None
    return int(
        store.scalar(
            "SELECT max(revision) FROM issued_months WHERE month = %(m)s",
            {"m": month_bounds(month)[0]},
        )
    )


def is_issued(store: Store, month: dt.date) -> bool:
    return latest_revision(store, month) is not None


def _current_lines(store: Store, d0: dt.date, d1: dt.date) -> list[tuple[Any, ...]]:
    return store.rows(
        f"""SELECT {", ".join(BILL_LINE_COLUMNS)} FROM bill_lines FINAL
        WHERE day >= %(d0)s AND day < %(d1)s AND {current_filter()}""",
        {"d0": d0, "d1": d1},
    )


def _final_statement_lines(store: Store, month: dt.date) -> list[tuple[Any, ...]]:
    return store.rows(
        f"""SELECT {", ".join(STATEMENT_LINE_COLUMNS)} FROM statement_lines FINAL
        WHERE month = %(m)s AND status = 'final'""",
        {"m": month},
    )


def _keyed(rows: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    for r in rows:
        d = dict(zip(BILL_LINE_COLUMNS, r, strict=True))
        out[tuple(d[k] for k in KEY)] = d
    return out


def corrections(
    old: Sequence[tuple[Any, ...]], new: Sequence[tuple[Any, ...]]
) -> list[tuple[str, dict[str, Any]]]:
    """(entry, line) pairs: reversal of each changed/removed old line, replacement of each
    changed/added new line. Unchanged lines produce nothing."""
    a, b = _keyed(old), _keyed(new)
    out: list[tuple[str, dict[str, Any]]] = []
    for key in sorted(set(a) | set(b), key=lambda k: tuple(str(x) for x in k)):
        was, now = a.get(key), b.get(key)
        if was is not None and now is not None and all(_same(was[c], now[c]) for c in COMPARED):
            continue
        if was is not None:
            out.append(("reversal", was))
        if now is not None:
            out.append(("replacement", now))
    return out


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, Decimal) or isinstance(y, Decimal):
        return Decimal(str(x)) == Decimal(str(y))
    return bool(x == y)


def issue_month(
    store: Store, month: dt.date, *, actor: str, reason: str = "", reference: str = ""
) -> Issued:
    """Issue a month: revision 0 on first close, else a restatement (needs a reason)."""
    first, nxt = month_bounds(month)
    prev = latest_revision(store, first)
    revision = 0 if prev is None else prev + 1
    kind = "close" if prev is None else "restatement"
    check_can_issue(store, first, reason)
    new = _current_lines(store, first, nxt)
    tiers = _final_statement_lines(store, first)
    fixes: list[tuple[str, dict[str, Any]]] = []
    if prev is not None:
        old = issued_bill_lines(store, first, prev).rows
        fixes = corrections(old, new)
        old_tiers = store.rows(
            f"SELECT {', '.join(STATEMENT_LINE_COLUMNS)} FROM issued_statement_lines"
            " WHERE month = %(m)s AND revision = %(r)s",
            {"m": first, "r": prev},
        )
        same_tiers = sorted(map(_tier_key, old_tiers)) == sorted(map(_tier_key, tiers))
        if not fixes and same_tiers:
            raise NothingToRestate(
                f"{first:%Y-%m}: nothing changed since revision {prev}; no restatement issued"
            )
    cut = BILL_LINE_COLUMNS.index("after_cut")
    lines_total = sum((Decimal(r[cut]) for r in new), ZERO)
    adj_total = sum((Decimal(t[STATEMENT_LINE_COLUMNS.index("amount")]) for t in tiers), ZERO)
    _write_snapshot(store, first, revision, new, tiers)
    if fixes:
        _write_corrections(store, first, revision, fixes)
    store.insert(
        "issued_months",
        {
            "month": [first], "revision": [revision], "kind": [kind], "reason": [reason],
            "reference": [reference], "actor": [actor], "at": [int(time.time())],
            "lines_total": [lines_total], "adjustments_total": [adj_total],
            "total": [lines_total + adj_total],
        },
    )  # fmt: skip
    subject = {"month": first.isoformat(), "revision": revision, "reference": reference}
    held = Part("bill_lines", BILL_LINE_COLUMNS, tuple(tuple(r) for r in new))
    entry = ledger.append(
        store,
        "month_closed" if kind == "close" else "restatement",
        subject,
        actor=actor,
        reason=reason or f"close {first:%Y-%m}",
        parts=month_issued(store, subject, held),
    )
    return Issued(
        first, revision, kind,
        sum(1 for e, _ in fixes if e == "reversal"), sum(1 for e, _ in fixes if e == "replacement"),
        lines_total, adj_total, lines_total + adj_total, entry.seq, entry.entry_hash,
    )  # fmt: skip


def _tier_key(row: tuple[Any, ...]) -> tuple[str, ...]:
    d = dict(zip(STATEMENT_LINE_COLUMNS, row, strict=True))
    return tuple(
        str(Decimal(str(d[k])).normalize()) if isinstance(d[k], Decimal) else str(d[k])
        for k in STATEMENT_LINE_COLUMNS
        if k != "run_id"
    )


def _write_snapshot(
    store: Store, month: dt.date, revision: int, lines: Sequence[tuple[Any, ...]],
    tiers: Sequence[tuple[Any, ...]],
) -> None:  # fmt: skip
    vi, di, ri = (BILL_LINE_COLUMNS.index(c) for c in ("vm_id", "day", "run_id"))
    pointers = sorted({(r[vi], r[di], r[ri]) for r in lines})
    if pointers:
        store.insert(
            "issued_lines",
            {
                "month": [month] * len(pointers), "revision": [revision] * len(pointers),
                "vm_id": [p[0] for p in pointers], "day": [p[1] for p in pointers],
                "run_id": [p[2] for p in pointers],
            },
        )  # fmt: skip
    if tiers:
        cols: dict[str, list[Any]] = {
            "month": [month] * len(tiers),
            "revision": [revision] * len(tiers),
        }
        for i, c in enumerate(STATEMENT_LINE_COLUMNS):
            cols[c] = [t[i] for t in tiers]
        store.insert("issued_statement_lines", cols)


def _write_corrections(
    store: Store, month: dt.date, revision: int, fixes: list[tuple[str, dict[str, Any]]]
) -> None:
    def sign(entry: str, v: Any) -> Decimal:
        d = Decimal(str(v))
        return -d if entry == "reversal" else d

    store.insert(
        "restatement_lines",
        {
            "month": [month] * len(fixes),
            "revision": [revision] * len(fixes),
            "entry": [e for e, _ in fixes],
            **{c: [ln[c] for _, ln in fixes] for c in ("vm_id", "day", "bureau", "system",
                                                       "pool", "provider", "resource",
                                                       "tariff_version", "run_id")},
            **{c: [sign(e, ln[c]) for e, ln in fixes] for c in ("quantity", "list_amount",
                                                                "after_discount", "after_cut")},
        },
    )  # fmt: skip


# ---- read model ----------------------------------------------------------------------


def issued_statement(store: Store, month: dt.date, *, bureau: str | None = None) -> dict[str, Any]:
    """A closed month as issued: the original, each correction and the net (scoped).

    A bureau sees its own lines only and no provider-level lines (they belong to no bureau).
    ``live`` is what the current bill lines say now; when it differs from ``net``, a change
    is waiting to be issued as a restatement.
    """
    first, nxt = month_bounds(month)
    revisions = store.dicts(
        """SELECT revision, kind, reason, reference, actor, at, adjustments_total
        FROM issued_months WHERE month = %(m)s ORDER BY revision""",
        {"m": first},
    )
    params: dict[str, Any] = {"m": first}
    scope = ""
    if bureau is not None:
        params["b"] = bureau
        scope = "AND bureau = %(b)s"
    fixes = {
        int(r[0]): Decimal(r[1])
        for r in store.rows(
            f"""SELECT revision, sum(after_cut) FROM restatement_lines
            WHERE month = %(m)s {scope} GROUP BY revision""",
            params,
        )
    }
    cut = BILL_LINE_COLUMNS.index("after_cut")
    out_revs: list[dict[str, Any]] = []
    net = ZERO
    prev_adj = ZERO
    for i, r in enumerate(revisions):
        rev = int(r["revision"])
        adj = ZERO if bureau is not None else Decimal(r["adjustments_total"])
        if i == 0:
            lines = issued_bill_lines(store, first, rev, bureau).rows
            delta_lines = sum((Decimal(x[cut]) for x in lines), ZERO)
        else:
            delta_lines = fixes.get(rev, ZERO)
        delta_adj = adj - prev_adj
        net += delta_lines + delta_adj
        prev_adj = adj
        out_revs.append(
            {
                "revision": rev, "kind": r["kind"], "reason": r["reason"],
                "reference": r["reference"], "actor": r["actor"], "at": r["at"],
                "lines": delta_lines.quantize(ZERO), "adjustments": delta_adj.quantize(ZERO),
                "amount": (delta_lines + delta_adj).quantize(ZERO),
            }
        )  # fmt: skip
    live = ZERO
    if revisions:
        live_lines = store.scalar(
            f"""SELECT sum(after_cut) FROM bill_lines FINAL
            WHERE day >= %(d0)s AND day < %(d1)s {scope} AND {current_filter()}""",
            {**params, "d0": first, "d1": nxt},
        )
        live = Decimal(live_lines or 0) + (ZERO if bureau is not None else prev_adj)
    return {
        "month": f"{first:%Y-%m}",
        "closed": bool(revisions),
        "bureau": bureau,
        "revision": int(revisions[-1]["revision"]) if revisions else None,
        "original": out_revs[0]["amount"] if out_revs else None,
        "corrections": out_revs[1:],
        "revisions": out_revs,
        "net": net.quantize(ZERO) if revisions else None,
        "live": live.quantize(ZERO) if revisions else None,
        "pending_restatement": bool(revisions) and live.quantize(ZERO) != net.quantize(ZERO),
        "ledger_head": ledger.head_hash(store),
    }


def ledger_row(
    keys: Sequence[str], head: str, issued: dict[str, Any] | None, lang: str = "en"
) -> list[Any]:
    """The last row of an exported statement: the ledger head that anchors it."""
    _ = translate(lang)
    closed = issued and issued["closed"]
    version = _("ledger.issued", revision=issued["revision"]) if closed else _("ledger.live")
    row: list[Any] = [
        _("ledger.head"),
        _("ledger.row", head=head or _("ledger.empty"), version=version),
    ]
    return row + [""] * (len(keys) - len(row))
