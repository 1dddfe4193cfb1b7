"""The ledger in the store: append an entry, read the chain, verify it against the rows.

Appends are serialised in-process (one lock); the chain is what makes a concurrent
writer elsewhere visible: two entries with one ``seq`` are reported as a fork by
``verify``. Only the admin's acts and the pipeline append; nothing ever updates or
deletes a ledger row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudtally.audit.subjects import SELECTORS, _columns_of
from cloudtally.core.hashchain import (
    Entry,
    Part,
    Problem,
    content_hash,
    next_entry,
    part_digests,
    row_count,
    verify_chain,
)
from cloudtally.store import Store

_LOCK = threading.Lock()
COLUMNS = (
    "seq", "entry_id", "kind", "subject", "content_hash", "row_count", "actor", "reason", "at",
    "prev_hash", "entry_hash",
)  # fmt: skip


def _entry(row: tuple[Any, ...]) -> Entry:
    d = dict(zip(COLUMNS, row, strict=True))
    at = d["at"]
    return Entry(
        seq=int(d["seq"]),
        entry_id=d["entry_id"],
        kind=d["kind"],
        subject=json.loads(d["subject"]),
        content_hash=d["content_hash"],
        row_count=int(d["row_count"]),
        actor=d["actor"],
        reason=d["reason"],
        at=int(at.timestamp()) if isinstance(at, dt.datetime) else int(at),
        prev_hash=d["prev_hash"],
        entry_hash=d["entry_hash"],
    )


def entries(store: Store, *, kind: str | None = None, limit: int | None = None) -> list[Entry]:
    where = "WHERE kind = %(k)s" if kind else ""
    lim = f"LIMIT {int(limit)}" if limit else ""
    rows = store.rows(
        f"SELECT {', '.join(COLUMNS)} FROM audit_ledger {where} ORDER BY seq, entry_id {lim}",
        {"k": kind} if kind else None,
    )
    return [_entry(r) for r in rows]


def head(store: Store) -> Entry | None:
    rows = store.rows(f"SELECT {', '.join(COLUMNS)} FROM audit_ledger ORDER BY seq DESC LIMIT 1")
    return _entry(rows[0]) if rows else None


def head_hash(store: Store) -> str:
    """The hash to print on statements and reports ('' before the first entry)."""
    h = head(store)
    return h.entry_hash if h else ""


def append(
    store: Store,
    kind: str,
    subject: Mapping[str, Any],
    *,
    actor: str,
    reason: str = "",
    parts: list[Part] | None = None,
) -> Entry:
    """Hash the rows ``subject`` names (now, as stored) and append the sealed entry.

    ``parts``: the same rows already in hand (a writer that just wrote them), to save a
    second read; ``verify`` re-reads them through the selector, so a difference shows.
    """
    subject = dict(subject)
    if kind == "verification_run" and "columns" not in subject:
        subject["columns"] = {
            t: list(_columns_of(store, t)) for t in ("verification_findings", "verification_totals")
        }
    if parts is None:
        parts = SELECTORS[kind](store, subject)
    with _LOCK:
        entry = next_entry(
            head(store),
            entry_id=uuid.uuid4().hex,
            kind=kind,
            subject=subject,
            parts=parts,
            actor=actor or "system",
            reason=reason,
            at=int(time.time()),
        )
        store.insert(
            "audit_ledger",
            {
                "seq": [entry.seq], "entry_id": [entry.entry_id], "kind": [entry.kind],
                "subject": [entry.subject_text()], "content_hash": [entry.content_hash],
                "row_count": [entry.row_count], "actor": [entry.actor], "reason": [entry.reason],
                "at": [entry.at], "prev_hash": [entry.prev_hash], "entry_hash": [entry.entry_hash],
            },
        )  # fmt: skip
        digests = part_digests(parts)
        if digests:
            store.insert(
                "audit_ledger_parts",
                {
                    "seq": [entry.seq] * len(digests),
                    "entry_id": [entry.entry_id] * len(digests),
                    "part": [d[0] for d in digests],
                    "key": [d[1] for d in digests],
                    "rows": [d[2] for d in digests],
                    "sha256": [d[3] for d in digests],
                },
            )
    return entry


# ---- policy documents -------------------------------------------------------------


def policy_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_policy(
    store: Store, text: str, name: str, *, actor: str = "pipeline", reason: str | None = None
) -> Entry | None:
    """Activate a policy document: store it verbatim and append an entry, once per content."""
    sha = policy_sha256(text)
    known = store.scalar("SELECT count() FROM audit_ledger WHERE kind = 'policy_activated' AND "
                         "content_hash != '' AND subject = %(s)s",
                         {"s": json.dumps({"name": name, "sha256": sha}, sort_keys=True,
                                          ensure_ascii=False, separators=(",", ":"))})  # fmt: skip
    if known:
        return None
    store.insert(
        "policy_documents",
        {"sha256": [sha], "name": [name], "content": [text], "activated_at": [int(time.time())]},
    )
    return append(store, "policy_activated", {"name": name, "sha256": sha}, actor=actor,
                  reason=reason or f"policy {name} activated")  # fmt: skip


def record_policy_file(store: Store, path: str | Path | None, name: str) -> Entry | None:
    """The pipeline put the policy at ``path`` (None: the packaged example) in force."""
    return record_policy(store, policy_text(path), name)


def activated_policy(store: Store, path: Path | None) -> Callable[[], Any]:
    """A policy provider for the worker that records each new policy it puts in force.

    The worker asks it on every derivation pass; a file whose bytes were never activated
    is stored and becomes a ``policy_activated`` entry before anything is rated with it.
    """
    from cloudtally.policy import current_policy

    seen: dict[str, str] = {}

    def provide() -> Any:
        policy = current_policy(path)
        text = policy_text(path)
        sha = policy_sha256(text)
        if sha not in seen:
            record_policy(store, text, policy.name)
            seen[sha] = policy.name
        return policy

    return provide


def policy_text(path: str | Path | None) -> str:
    if path:
        return Path(path).read_text(encoding="utf-8")
    from importlib import resources

    return (resources.files("cloudtally.policy") / "example.yaml").read_text(encoding="utf-8")


# ---- verify ---------------------------------------------------------------------------


@dataclass
class VerifyReport:
    entries: int
    head: str
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.seq) if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "seconds": round(self.seconds, 3),
            "first_problem": self.first.__dict__ if self.first else None,
            "problems": [p.__dict__ for p in sorted(self.problems, key=lambda p: p.seq)],
        }


def verify(store: Store, *, policy_file: str | Path | None = None) -> VerifyReport:
    """Recompute the chain and every entry's content hash from the rows in the store.

    With ``policy_file``, also report a policy file that differs from every activated
    version (edited on disk but never put in force, or edited behind the ledger's back).
    """
    t0 = time.perf_counter()
    chain = entries(store)
    problems = verify_chain(chain)
    for e in chain:
        selector = SELECTORS.get(e.kind)
        if selector is None:
            problems.append(
                Problem(e.seq, "unknown_kind", f"entry {e.seq}: unknown kind {e.kind!r}")
            )
            continue
        parts = selector(store, e.subject)
        now = content_hash(parts)
        if now != e.content_hash:
            what = _describe(e, row_count(parts), _changed_parts(store, e, parts))
            problems.append(Problem(e.seq, "rows_changed", what))
        if e.kind == "policy_activated":
            problems.extend(_policy_problems(store, e))
    if policy_file is not None:
        sha = policy_sha256(policy_text(policy_file))
        activated = {e.subject.get("sha256") for e in chain if e.kind == "policy_activated"}
        if activated and sha not in activated:
            last = max((e.seq for e in chain), default=0)
            problems.append(
                Problem(
                    last + 1,
                    "policy_file_not_activated",
                    f"the policy file {policy_file} (sha256 {sha[:12]}…) matches no activated "
                    "version: it was edited after activation",
                )
            )
    h = chain[-1].entry_hash if chain else ""
    return VerifyReport(len(chain), h, problems, time.perf_counter() - t0)


def _policy_problems(store: Store, e: Entry) -> list[Problem]:
    rows = store.rows(
        "SELECT content FROM policy_documents WHERE sha256 = %(h)s", {"h": e.subject["sha256"]}
    )
    bad = [r for r in rows if policy_sha256(r[0]) != e.subject["sha256"]]
    if rows and not bad:
        return []
    why = "is missing" if not rows else "was changed after activation"
    return [Problem(e.seq, "policy_changed", f"entry {e.seq}: the activated policy document {why}")]


def _changed_parts(store: Store, e: Entry, parts: list[Part]) -> list[str]:
    """Which parts (and bureaus) differ from the digests written with the entry."""
    then = {
        (r[0], r[1]): (int(r[2]), r[3])
        for r in store.rows(
            "SELECT part, key, rows, sha256 FROM audit_ledger_parts"
            " WHERE seq = %(s)s AND entry_id = %(e)s",
            {"s": e.seq, "e": e.entry_id},
        )
    }
    now = {(d[0], d[1]): (d[2], d[3]) for d in part_digests(parts)}
    out = []
    for key in sorted(set(then) | set(now)):
        if key[1] == "" and any(k[0] == key[0] and k[1] for k in set(then) | set(now)):
            continue  # a digest part: name the bureau(s) instead
        a, b = then.get(key), now.get(key)
        if a == b:
            continue
        label = f"{key[0]}[{key[1]}]" if key[1] else key[0]
        rows_then, rows_now = (a or (0, ""))[0], (b or (0, ""))[0]
        out.append(f"{label}: {rows_then} → {rows_now} rows" if rows_then != rows_now
                   else f"{label}: values changed")  # fmt: skip
    return out


def _describe(e: Entry, n_now: int, changed: list[str]) -> str:
    subject = ", ".join(f"{k}={v}" for k, v in e.subject.items() if k != "columns")
    delta = n_now - e.row_count
    how = (
        f"{-delta} row(s) deleted" if delta < 0 else f"{delta} row(s) added" if delta > 0
        else "row values changed"
    )  # fmt: skip
    where = f" ({'; '.join(changed)})" if changed else ""
    return f"entry {e.seq} ({e.kind}: {subject}): {how} behind the ledger's back{where}"
