"""Fault reports in the store: import (bounded like invoices), timeliness and the
cross-check with metered downtime.

An upload goes through the invoice importer's bounds (:mod:`cloudtally.invoices.
upload_bounds`: zip-bomb and cell-count checks before openpyxl sees an XLSX), is read
as text cells (:mod:`cloudtally.tabular`) and parsed by :mod:`cloudtally.core.fault_rows`.
Good rows are stored, bad ones are stored as rejections with their reasons and counted
in ``cloudtally_fault_rows_total{result="rejected"}``; nothing is stored when the file
itself is unreadable.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

from cloudtally import metrics
from cloudtally.core.availability import pct_shown
from cloudtally.core.fault_rows import FaultFileError, Rejection, parse_rows
from cloudtally.core.faults import FaultReport, SystemIncident, Timeliness, cross_check, timeliness
from cloudtally.core.policy import Policy
from cloudtally.core.refusal import BadValue
from cloudtally.core.sla import SlaVersion
from cloudtally.evaluation.availability import Scope, assess, sla_version
from cloudtally.store import Store


class FaultImportError(BadValue):
    """The file was refused whole (unreadable, too large, no header, no SLA policy): a
    reason id and its figures (``family``: ``fault.<id>``, or ``import.<id>`` when the
    invoice importer's bounds refused it), told in the caller's language."""

    def __init__(self, text: str, reason_id: str = "", family: str = "fault", **params: object):
        super().__init__(text, reason_id, **params)
        self.family = family

    @classmethod
    def of(cls, exc: BaseException, family: str) -> FaultImportError:
        """``exc``'s refusal (its id and figures when it has them) as a whole-file one."""
        params = getattr(exc, "params", None) or {}
        return cls(str(exc), getattr(exc, "reason_id", ""), family, **params)


def read_file(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows of a CSV / XLSX fault report, within the upload bounds."""
    from cloudtally.core.invoice import InvoiceError
    from cloudtally.invoices.upload_bounds import bounded_cells, check_xlsx_archive
    from cloudtally.tabular import TableError, read_table

    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            check_xlsx_archive(path)
        header, rows = read_table(path)
        list(bounded_cells([header, *(r for _, r in rows)]))
    except (InvoiceError, TableError) as exc:  # a TableError has no id: its English
        raise FaultImportError.of(exc, "import") from None
    return header, rows


def _version_for_import(policy: Policy) -> SlaVersion:
    levels = policy.service_levels
    if levels is None or not levels.versions:
        raise FaultImportError(
            "the policy states no sla section: no fault severities known", "no_sla"
        )
    return levels.versions[-1]


def import_file(
    store: Store, policy: Policy, path: Path, *, provider: str, file_name: str = ""
) -> dict[str, Any]:
    """Import one fault report file; returns counts, rejections and the import id."""
    if not provider:
        raise FaultImportError(
            "provider is required (the contract the faults are under)", "no_provider"
        )
    header, rows = read_file(path)
    try:
        reports, rejected = parse_rows(
            header, rows, provider=provider, sla=_version_for_import(policy), tz=policy.zone
        )
    except FaultFileError as exc:
        metrics.FAULT_ROWS.labels("refused_file").inc()
        raise FaultImportError.of(exc, "fault") from None
    import_id = uuid.uuid4().hex[:16]
    name = file_name or path.name
    now = int(time.time())
    store_reports(store, reports, import_id=import_id, file_name=name, now=now)
    store_rejections(store, rejected, import_id=import_id, provider=provider, file_name=name)
    metrics.FAULT_ROWS.labels("imported").inc(len(reports))
    metrics.FAULT_ROWS.labels("rejected").inc(len(rejected))
    return {
        "import_id": import_id,
        "file_name": name,
        "provider": provider,
        "imported": len(reports),
        "rejected": len(rejected),
        "rejections": [r.__dict__ for r in rejected],
    }


def store_reports(
    store: Store, reports: list[FaultReport], *, import_id: str, file_name: str, now: int
) -> None:
    if not reports:
        return
    n = len(reports)
    store.insert(
        "fault_reports",
        {
            "provider": [r.provider for r in reports],
            "fault_id": [r.fault_id for r in reports],
            "import_id": [import_id] * n,
            "file_name": [file_name] * n,
            "row": [r.row for r in reports],
            "severity": [r.severity for r in reports],
            "received": [r.received for r in reports],
            "on_site": [r.on_site or 0 for r in reports],
            "resolved": [r.resolved or 0 for r in reports],
            "report_delivered": [r.report_delivered or 0 for r in reports],
            "systems": [list(r.systems) for r in reports],
            "description": [r.description for r in reports],
            "imported_at": [now] * n,
            "version": [time.time_ns()] * n,
        },
    )


def store_rejections(
    store: Store, rejected: list[Rejection], *, import_id: str, provider: str, file_name: str
) -> None:
    if not rejected:
        return
    n = len(rejected)
    store.insert(
        "fault_rejections",
        {
            "import_id": [import_id] * n,
            "provider": [provider] * n,
            "file_name": [file_name] * n,
            "row": [r.row for r in rejected],
            "column": [r.column for r in rejected],
            "value": [r.value[:500] for r in rejected],
            "reason": [r.reason for r in rejected],
            "reason_id": [r.reason_id for r in rejected],
            "reason_params": [json.dumps(dict(r.params), ensure_ascii=False) for r in rejected],
            "imported_at": [int(time.time())] * n,
        },
    )


def load_reports(
    store: Store, start: int, end: int, *, provider: str | None = None
) -> list[FaultReport]:
    """Faults received in [start, end) (the latest import of each)."""
    rows = store.rows(
        f"""
        SELECT row, fault_id, provider, severity, toUInt32(received), toUInt32(on_site),
               toUInt32(resolved), toUInt32(report_delivered),
               systems, description
        FROM fault_reports FINAL
        WHERE received >= toDateTime(%(s)s, 'UTC') AND received < toDateTime(%(e)s, 'UTC')
        {"AND provider = %(p)s" if provider else ""}
        ORDER BY received, fault_id
        """,
        {"s": start, "e": end, "p": provider or ""},
    )

    def opt(v: Any) -> int | None:
        return None if int(v) <= 0 else int(v)

    return [
        FaultReport(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            int(r[4]),
            opt(r[5]),
            opt(r[6]),
            opt(r[7]),
            tuple(r[8]),
            r[9],
        )
        for r in rows
    ]


def _iso(t: int | None, policy: Policy) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, policy.zone).isoformat()


def fault_report(
    store: Store,
    policy: Policy,
    start: int,
    end: int,
    *,
    provider: str | None = None,
    as_of: int | None = None,
    slack_s: int = 900,
    min_unreported_s: int = 300,
) -> dict[str, Any]:
    """Timeliness of every fault received in [start, end) and the cross-check with the
    meter's incidents over the same period."""
    now = int(time.time()) if as_of is None else as_of
    faults = load_reports(store, start, end, provider=provider)
    checks: list[dict[str, Any]] = []
    breaches = 0
    for f in faults:
        v = sla_version(policy, f.received)
        key = v.severity(f.severity) if v else None
        limit = v.fault_handling.get(key) if v and key else None
        items: list[Timeliness] = (
            timeliness(f, limit, policy.official, policy.zone, now) if limit else []
        )
        breaches += sum(t.breach for t in items)
        checks.append(
            {
                "fault_id": f.fault_id,
                "provider": f.provider,
                "row": f.row,
                "severity": f.severity,
                "severity_key": key,
                "received": _iso(f.received, policy),
                "on_site": _iso(f.on_site, policy),
                "resolved": _iso(f.resolved, policy),
                "report_delivered": _iso(f.report_delivered, policy),
                "systems": list(f.systems),
                "checks": [_check_row(t, policy) for t in items],
                "breaches": [t.check for t in items if t.breach],
            }
        )
    a = assess(store, policy, Scope(start, end, provider=provider))
    incidents = [  # the system and provider of the incident's time
        SystemIncident(i, v.label("system"), v.label("provider"))
        for _, i, v in a.placed_incidents()
    ]
    cc = cross_check(
        faults, incidents, as_of=now, slack_s=slack_s, min_unreported_s=min_unreported_s
    )
    total = sum(len(c["checks"]) for c in checks)
    return {
        "from": start,
        "to": end,
        "provider": provider,
        "faults": checks,
        "summary": {
            "faults": len(faults),
            "checks": total,
            "breaches": breaches,
            "on_time_pct": pct_shown(None if not total else _share(total - breaches, total)),
            "faults_without_metered_downtime": len(cc.unmetered_faults),
            "metered_downtime_without_report": len(cc.unreported),
        },
        "matched": [
            {"fault_id": f.fault_id, "incidents": [s.incident.as_dict() for s in hits]}
            for f, hits in cc.matched
        ],
        "faults_without_metered_downtime": [f.fault_id for f in cc.unmetered_faults],
        "metered_downtime_without_report": [
            {**s.incident.as_dict(), "system": s.system, "provider": s.provider}
            for s in cc.unreported
        ],
    }


def _check_row(t: Timeliness, policy: Policy) -> dict[str, Any]:
    row = t.as_dict()
    row["deadline"] = _iso(t.deadline, policy) if t.deadline else None
    row["actual"] = _iso(t.actual, policy)
    return row


def _share(a: int, b: int) -> Any:
    from fractions import Fraction

    return Fraction(a, b)
