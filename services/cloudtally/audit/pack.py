"""Evidence packs: one archive an auditor re-derives outside cloudtally.

``cloudtally audit pack --bureau B --month M`` (or ``--provider P``) writes a zip whose
``verify_pack.py`` (stdlib + PyYAML, no cloudtally code) re-derives every bill line and
the statement total from the pack's own rollups and policy file, recomputes the ledger
chain to its head and the month's entry hash, and checks every file against the
manifest. Values are written in the ledger's canonical text form (``core.hashchain``), so
the verifier hashes exactly what the store hashed.

A bureau pack holds that bureau's lines and the other bureaus' *digests* only; a provider
pack holds every line of the month (a provider's lines prove themselves against every
bureau's digest) with the provider's statement.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import time
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from cloudtally.audit import issue, ledger
from cloudtally.audit.subjects import (
    BILL_LINE_COLUMNS,
    RESTATEMENT_COLUMNS,
    SELECTORS,
    issued_bill_lines,
)
from cloudtally.billing.rate import current_filter
from cloudtally.core.hashchain import canonical_row, canonical_value
from cloudtally.core.statements import month_bounds
from cloudtally.i18n import translate
from cloudtally.store import Store

FORMAT = "cloudtally.evidence/1"
USAGE_COLUMNS = (
    "vm_id", "hour", "bureau", "provider", "pool", "vcpu", "mem_gb", "storage_gb_performance",
    "storage_gb_standard", "storage_gb_archive", "alloc_fraction", "samples", "cpu_avg",
    "mem_avg", "business_weight",
)  # fmt: skip
SAMPLE_COLUMNS = ("vm_id", "ts", "cpu_pct", "mem_pct", "source")
ZERO = Decimal("0.00")


def readme(scope: dict[str, str], month: str, seq: str, head: str) -> str:
    """The pack's README.txt: Chinese first, then English (the catalogue's pack.readme);
    ``scope`` names its kind (bureau / provider / invoice) and id."""
    return "\n\n".join(readme_in(lang, scope, month, seq, head) for lang in ("zh", "en"))


def readme_in(lang: str, scope: dict[str, str], month: str, seq: str, head: str) -> str:
    """The README's text in one language."""
    _ = translate(lang)
    ((kind, ident),) = scope.items()
    return _("pack.readme", scope=_(f"pack.scope.{kind}", id=ident),
             month=month or _("pack.invoice_period"), seq=seq or _("pack.not_closed"),
             head=head)  # fmt: skip


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([canonical_value(v) for v in r])
    return buf.getvalue().encode("utf-8")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, default=canonical_value).encode("utf-8")


def _policy_text(store: Store, entries: list[ledger.Entry], at: int) -> str:
    """The policy document in force at ``at``: the last one activated before it."""
    acts = [e for e in entries if e.kind == "policy_activated" and e.at <= at] or [
        e for e in entries if e.kind == "policy_activated"
    ]
    if not acts:
        raise ValueError("no policy was ever activated: the ledger has nothing to prove")
    sha = acts[-1].subject["sha256"]
    text = store.scalar("SELECT content FROM policy_documents WHERE sha256 = %(h)s LIMIT 1",
                        {"h": sha})  # fmt: skip
    return str(text)


def build(
    store: Store,
    month: dt.date,
    out: Path,
    *,
    bureau: str | None = None,
    provider: str | None = None,
    raw: bool = False,
) -> dict[str, Any]:
    """Write the pack for one bureau's (or provider's) month to ``out`` (a .zip)."""
    if (bureau is None) == (provider is None):
        raise ValueError("give exactly one of bureau or provider")
    first, nxt = month_bounds(month)
    rev = issue.latest_revision(store, first)
    entries = ledger.entries(store)
    issued_kinds = ("month_closed", "restatement")
    month_entry = next(
        (
            e
            for e in reversed(entries)
            if e.kind in issued_kinds and e.subject.get("month") == first.isoformat()
        ),
        None,
    )
    if rev is not None:
        lines = issued_bill_lines(store, first, rev, bureau).rows
    else:
        lines = tuple(
            tuple(r)
            for r in store.rows(
                f"""SELECT {", ".join(BILL_LINE_COLUMNS)} FROM bill_lines FINAL
                WHERE day >= %(d0)s AND day < %(d1)s {"AND bureau = %(b)s" if bureau else ""}
                AND {current_filter()}""",
                {"d0": first, "d1": nxt, "b": bureau},
            )
        )
    vms = sorted({r[0] for r in lines})
    restated = store.rows(
        f"SELECT {', '.join(RESTATEMENT_COLUMNS)} FROM restatement_lines WHERE month = %(m)s "
        f"AND revision = %(r)s {'AND bureau = %(b)s' if bureau else ''}",
        {"m": first, "r": rev if rev is not None else 0, "b": bureau},
    ) if rev else []  # fmt: skip
    t0 = dt.datetime.combine(first, dt.time(), issue_tz()).astimezone(dt.UTC)
    t1 = dt.datetime.combine(nxt, dt.time(), issue_tz()).astimezone(dt.UTC)
    usage = (
        store.rows(
            f"""SELECT {", ".join(USAGE_COLUMNS)} FROM usage_hourly FINAL
            WHERE vm_id IN %(vms)s AND hour >= %(t0)s AND hour < %(t1)s AND alloc_fraction > 0""",
            {"vms": tuple(vms), "t0": t0, "t1": t1},
        )
        if vms
        else []
    )
    digests, samples = _sample_digests(store, vms, usage, t0, t1, raw)
    statement = _statement(store, first, bureau, provider, lines)
    files: dict[str, bytes] = {
        "bill_lines.csv": _csv(BILL_LINE_COLUMNS, lines),
        "restatement_lines.csv": _csv(RESTATEMENT_COLUMNS, restated),
        "usage_hourly.csv": _csv(USAGE_COLUMNS, usage),
        "sample_digests.csv": _csv(("vm_id", "day", "samples", "sha256"), digests),
        "statement.json": _json(statement),
        "policy.yaml": _policy_text(store, entries, int(time.time())).encode("utf-8"),
        "ledger.json": _json({"entries": [_entry_json(e) for e in entries]}),
        "month_entry.json": _json(_month_proof(store, month_entry)),
        "verify_pack.py": (resources.files("cloudtally.audit") / "verify_pack.py").read_bytes(),
        "requirements.txt": b"PyYAML>=6,<7\n",
    }
    if raw:
        files["samples.csv"] = _csv(SAMPLE_COLUMNS, samples)
    head = entries[-1].entry_hash if entries else ""
    scope = {"bureau": bureau, "provider": provider, "month": f"{first:%Y-%m}"}
    files["README.txt"] = readme(
        {"bureau": bureau} if bureau else {"provider": str(provider)}, f"{first:%Y-%m}",
        str(month_entry.seq) if month_entry else "", head,
    ).encode("utf-8")  # fmt: skip
    manifest = {
        "format": FORMAT,
        "scope": scope,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ledger_head": head,
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = f"evidence-{bureau or provider}-{first:%Y-%m}"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in sorted(files.items()):
            z.writestr(f"{folder}/{name}", body)
    return {"path": str(out), "folder": folder, "lines": len(lines), "vms": len(vms),
            "ledger_head": head, "statement": statement}  # fmt: skip


def issue_tz() -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=8))


def _entry_json(e: ledger.Entry) -> dict[str, Any]:
    return {
        "seq": e.seq, "entry_id": e.entry_id, "kind": e.kind, "subject": dict(e.subject),
        "content_hash": e.content_hash, "row_count": e.row_count, "actor": e.actor,
        "reason": e.reason, "at": e.at, "prev_hash": e.prev_hash, "entry_hash": e.entry_hash,
    }  # fmt: skip


def _month_proof(store: Store, entry: ledger.Entry | None) -> dict[str, Any]:
    """The month entry's parts (digests, tiers, issue record) in canonical text form."""
    if entry is None:
        return {"seq": None}
    parts = SELECTORS[entry.kind](store, entry.subject)
    return {
        "seq": entry.seq,
        "line_columns": list(BILL_LINE_COLUMNS),
        "parts": [
            {"name": p.name, "columns": list(p.columns),
             "rows": [[canonical_value(v) for v in r] for r in p.rows]}
            for p in parts
        ],
    }  # fmt: skip


def _statement(
    store: Store, month: dt.date, bureau: str | None, provider: str | None,
    lines: Sequence[Sequence[Any]],
) -> dict[str, Any]:  # fmt: skip
    cut, prov = BILL_LINE_COLUMNS.index("after_cut"), BILL_LINE_COLUMNS.index("provider")
    mine = [r for r in lines if provider is None or r[prov] == provider]
    st: dict[str, Any] = {
        "month": f"{month:%Y-%m}", "bureau": bureau, "provider": provider,
        "lines": len(mine), "lines_total": sum((Decimal(r[cut]) for r in mine), ZERO),
    }  # fmt: skip
    if bureau is not None:
        issued = issue.issued_statement(store, month, bureau=bureau)
        st.update({k: issued[k] for k in ("closed", "revision", "original", "corrections", "net",
                                          "ledger_head")})  # fmt: skip
    else:
        st.update({"closed": issue.is_issued(store, month), "net": None})
    return st


def _sample_digests(
    store: Store, vms: list[str], usage: Sequence[Sequence[Any]], t0: dt.datetime,
    t1: dt.datetime, raw: bool,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:  # fmt: skip
    """Per VM and local day: how many raw samples stand behind the rollups, and their hash."""
    if not vms:
        return [], []
    hours = {(u[0], int(u[1].timestamp())) for u in usage}
    rows = store.rows(
        f"""SELECT {", ".join(SAMPLE_COLUMNS)} FROM samples FINAL
        WHERE vm_id IN %(vms)s AND ts >= %(t0)s AND ts < %(t1)s""",
        {"vms": tuple(vms), "t0": t0, "t1": t1},
    )
    tz = issue_tz()
    by_day: dict[tuple[str, str], list[str]] = defaultdict(list)
    kept = []
    for r in rows:
        epoch = int(r[1].timestamp())
        if (r[0], epoch - epoch % 3600) not in hours:
            continue
        kept.append(r)
        day = dt.datetime.fromtimestamp(epoch, tz).date().isoformat()
        by_day[(r[0], day)].append(canonical_row(r))
    out = []
    for (vm, day), texts in sorted(by_day.items()):
        h = hashlib.sha256(("\n".join(sorted(texts)) + "\n").encode("utf-8")).hexdigest()
        out.append((vm, day, len(texts), h))
    return out, kept if raw else []


def unpack(zip_path: Path, into: Path) -> Path:
    """Extract a pack; returns its folder."""
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(into)
        top = {n.split("/", 1)[0] for n in z.namelist()}
    return into / sorted(top)[0]


def build_invoice(store: Store, invoice_id: str, out: Path) -> dict[str, Any]:
    """Write the pack for one provider invoice and its latest verification run.

    Holds the rows the ``invoice_imported`` and ``verification_run`` entries fixed, one CSV
    per part, so the verifier recomputes both entries' hashes from the files themselves,
    then checks the invoice's arithmetic (Σ lines = billed total = Σ verification totals).
    """
    entries = ledger.entries(store)
    imported = [e for e in entries if e.kind == "invoice_imported"
                and e.subject.get("invoice_id") == invoice_id]  # fmt: skip
    if not imported:
        raise ValueError(f"invoice {invoice_id!r} has no ledger entry (not imported here)")
    runs = [e for e in entries if e.kind == "verification_run"
            and e.subject.get("invoice_id") == invoice_id]  # fmt: skip
    chosen = [imported[-1], *runs[-1:]]
    files: dict[str, bytes] = {}
    proofs = []
    for e in chosen:
        names = []
        for part in SELECTORS[e.kind](store, e.subject):
            name = f"{part.name}.csv"
            files[name] = _csv(part.columns, part.rows)
            names.append({"name": part.name, "file": name})
        proofs.append({"seq": e.seq, "kind": e.kind, "parts": names})
    head = entries[-1].entry_hash
    files.update({
        "ledger.json": _json({"entries": [_entry_json(e) for e in entries]}),
        "proofs.json": _json({"proofs": proofs}),
        "verify_pack.py": (resources.files("cloudtally.audit") / "verify_pack.py").read_bytes(),
        "requirements.txt": b"PyYAML>=6,<7\n",
        "README.txt": readme({"invoice": invoice_id}, "",
                             ", ".join(str(p["seq"]) for p in proofs), head).encode("utf-8"),
    })  # fmt: skip
    manifest = {
        "format": FORMAT,
        "scope": {"invoice": invoice_id, "bureau": None, "provider": None},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ledger_head": head,
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    folder = f"evidence-invoice-{invoice_id}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in sorted(files.items()):
            z.writestr(f"{folder}/{name}", body)
    return {"path": str(out), "folder": folder, "ledger_head": head, "entries": len(proofs)}
