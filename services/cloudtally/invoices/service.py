"""Verify a stored invoice against the store's metered truth; run imports as polled jobs.

``verify_invoice`` reads the invoice's lines, builds the expected charges from
``bill_lines`` (current runs) aggregated to the invoice's granularity, the VM
lifecycle from ``vm_inventory`` and volume-tier credits from
``statement_lines``, runs the pure core and stores the run.

``JobRegistry`` runs large imports (and verifications) in a background thread
and keeps their progress in memory for the API to poll; every state change is
also recorded in the store (:mod:`cloudtally.invoices.jobstore`), so a job id
still answers after a restart, and a job a restart cut off says so.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.core.invoice import InvoiceError, InvoiceLine
from cloudtally.core.verification import (
    ExpectedCharge,
    Tolerances,
    VerificationPolicy,
    VerificationResult,
    VmLifecycle,
    verify_partitions,
)
from cloudtally.invoices import jobstore, verify_sql
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.capacity import add_capacity_findings
from cloudtally.invoices.importer import ImportRejected, gc_paused, import_invoice
from cloudtally.store.base import Store

log = logging.getLogger("cloudtally.invoices.jobs")


def policy_from_settings(
    period_start: dt.datetime, tolerances: Tolerances | None = None
) -> VerificationPolicy:
    """Gap policy and the contract's month (hours_per_month) from the policy version in
    force; tolerances as given."""
    bill_unmetered = True
    month_hours = Decimal(720)
    partial_hours = "prorate"
    try:
        from cloudtally.core.policy import load_policy
        from cloudtally.settings import get_settings

        path = get_settings().policy_file
        if path:
            version = load_policy(path).version_at(period_start)
            bill_unmetered = bool(version.bill_unmetered_hours)
            month_hours = Decimal(version.hours_per_month)
            partial_hours = str(getattr(version, "partial_hours", "prorate"))
    except (ImportError, LookupError, OSError, ValueError):
        pass
    return VerificationPolicy(
        tolerances=tolerances or Tolerances(),
        bill_unmetered_hours=bill_unmetered,
        month_hours=month_hours,
        partial_hours=partial_hours,
    )


def granularity(lines: list[Any]) -> str:
    """'day' when every line is one local day or less, else 'month'."""
    if lines and all((ln.period_end - ln.period_start) <= dt.timedelta(days=1) for ln in lines):
        return "day"
    return "month"


PARTITION_LINES = 50_000  # lines verified at once; bounds memory for huge invoices


def verify_invoice(
    store: Store,
    invoice_id: str,
    *,
    policy: VerificationPolicy | None = None,
    tz: str = "Asia/Shanghai",
    partition_lines: int | None = None,
    in_store: bool | None = None,
) -> dict[str, Any]:
    """Run verification for one stored invoice and store the run; return the run's totals.

    First the store settles every resource key whose lines certainly match metering
    (:mod:`cloudtally.invoices.verify_sql`; ``in_store=False`` or
    CLOUDTALLY_INVOICE_VERIFY_IN_STORE=0 skips it); the Python rules check the rest.
    More than ``partition_lines`` such lines (default
    CLOUDTALLY_INVOICE_PARTITION_LINES or 50,000) are verified in partitions
    by resource key, one in memory at a time; the result is the same.
    """
    inv = inv_store.get_invoice(store, invoice_id)
    if inv is None:
        raise LookupError(f"no invoice {invoice_id!r}")
    started = dt.datetime.now(dt.UTC)
    period = (inv["billing_period_start"], inv["billing_period_end"])
    n_lines, usage, longer = store.rows(
        "SELECT count(), countIf(charge_category = 'usage'), "
        "countIf(charge_category = 'usage' AND "
        "toUnixTimestamp(period_end) - toUnixTimestamp(period_start) > 86400) "
        "FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s",
        {"id": invoice_id, "imp": inv["import_id"]},
    )[0]
    # As granularity(): 'day' when every usage line spans one day or less.
    gran = "day" if int(usage) and not int(longer) else "month"
    if partition_lines is None:
        try:
            partition_lines = int(os.environ.get("CLOUDTALLY_INVOICE_PARTITION_LINES", ""))
        except ValueError:
            partition_lines = PARTITION_LINES
    pol = policy or policy_from_settings(period[0])
    if in_store is None:
        in_store = os.environ.get("CLOUDTALLY_INVOICE_VERIFY_IN_STORE", "1") != "0"
    with contextlib.ExitStack() as stack:
        done = (
            stack.enter_context(verify_sql.cleared(store, inv, granularity=gran, policy=pol, tz=tz))
            if in_store and verify_sql.applicable(pol)
            else None
        )
        parts = inv_store.plan_partitions(
            store,
            invoice_id,
            inv["import_id"],
            inv["provider"],
            period,
            lines=done.candidate_lines if done else int(n_lines),
            partition_lines=partition_lines,
            tz=tz,
            token=done.token if done else "",
        )
        result, versions, n_expected = _verify_parts(store, inv, parts, pol, gran, tz)
    if done is not None:
        verify_sql.merge(result.totals, done)
        result.lines += done.cleared_lines
        result.matched_lines += done.cleared_lines
        n_expected += done.expected_charges
        versions |= done.tariff_versions
    # Rule C1 (observed vs allocated capacity), in its own module.
    add_capacity_findings(store, result, invoice_id, inv["provider"], period)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    settings = {
        "tolerances": asdict(pol.tolerances),
        "bill_unmetered_hours": pol.bill_unmetered_hours,
        "gap_info_threshold": pol.gap_info_threshold,
        "month_hours": pol.month_hours,
        "partial_hours": pol.partial_hours,
        "granularity": gran,
    }
    inv_store.save_run(
        store,
        run_id=run_id,
        invoice_id=invoice_id,
        provider=inv["provider"],
        started_at=started,
        result=result,
        settings=settings,
        tariff_versions={v for v in versions if v},
        expected_charges=n_expected,
    )
    inv_store.set_status(store, invoice_id, "verified")
    from cloudtally.audit.ledger import append, head_hash

    append(store, "verification_run", {"invoice_id": invoice_id, "run_id": run_id},
           actor="system", reason="invoice verified")  # fmt: skip
    return {
        "ledger_head": head_hash(store),
        "run_id": run_id,
        "invoice_id": invoice_id,
        "lines": result.lines,
        "matched_lines": result.matched_lines,
        "expected_charges": n_expected,
        "lines_settled_in_store": done.cleared_lines if done else 0,
        "findings": len(result.findings),
        "billed_total": result.billed_total,
        "verified_total": result.verified_total,
        "over_total": result.over_total,
        "under_total": result.under_total,
        "unverified_total": result.unverified_total,
    }


def _verify_parts(
    store: Store,
    inv: dict[str, Any],
    parts: list[inv_store.VmPart],
    pol: VerificationPolicy,
    gran: str,
    tz: str,
) -> tuple[VerificationResult, set[str], int]:
    """The Python rules over the parts' lines; the result, tariff versions and charges."""
    invoice_id, period = inv["invoice_id"], (inv["billing_period_start"], inv["billing_period_end"])
    credits = (
        inv_store.load_credits(store, inv["provider"], period, tz=tz) if gran == "month" else []
    )
    versions: set[str] = set()
    n_expected = 0

    def partitions() -> Iterator[
        tuple[list[InvoiceLine], list[ExpectedCharge], dict[str, VmLifecycle]]
    ]:
        """One key range at a time: its lines, expected charges and VM lifecycles."""
        nonlocal n_expected
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="invoice-load") as pool:
            for part in parts:
                # The store answers one query while Python builds the other's objects.
                loading = pool.submit(
                    inv_store.load_expected,
                    store,
                    inv["provider"],
                    period,
                    granularity=gran,
                    tz=tz,
                    part=part,
                )
                lines = inv_store.load_lines(
                    store, invoice_id, key_range=part.key_range, token=part.token
                )
                expected, vms, _ = loading.result()
                n_expected += len(expected)
                for tv in {e.tariff_version for e in expected}:
                    versions.update(tv.split(","))
                yield lines, expected, vms

    with gc_paused():
        result = verify_partitions(
            partitions(), period, policy=pol, provider=inv["provider"], credits=credits
        )
    return result, versions, n_expected


# ---------------------------------------------------------------- jobs


@dataclass
class Job:
    job_id: str
    kind: str
    state: str = "queued"  # queued | running | done | failed | interrupted (restart)
    subject: str = ""  # the file (import) or the invoice (verify), to re-run it
    rows: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    message: str = ""  # English, as written; message_id + message_params render it anew
    message_id: str = ""  # the catalogue's import.<id> of a failure ('' = message only)
    message_params: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def progress(self) -> float:
        if self.state == "done":
            return 1.0
        return min(0.99, self.bytes_read / self.bytes_total) if self.bytes_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["progress"] = round(self.progress, 3)
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


class JobRegistry:
    """In-process background jobs with pollable status (one worker thread at a time)."""

    def __init__(self, keep: int = 200) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._keep = keep

    def get(self, job_id: str, store: Store | None = None) -> Job | None:
        """This process's job, else (with ``store``) one an earlier process recorded."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and store is not None:
            job = jobstore.load(store, job_id)
        return job

    def list(self, store: Store | None = None) -> list[Job]:
        with self._lock:
            mine = dict(self._jobs)
        if store is not None:
            for job in jobstore.recent(store, self._keep):
                mine.setdefault(job.job_id, job)
        return sorted(mine.values(), key=lambda j: j.created_at)[-self._keep :]

    def submit(
        self,
        kind: str,
        fn: Callable[[Job], dict[str, Any]],
        total: int = 0,
        *,
        store: Store | None = None,
        subject: str = "",
    ) -> Job:
        """Run ``fn`` in the background; with ``store``, every state change is recorded."""
        job = Job(job_id=uuid.uuid4().hex, kind=kind, bytes_total=total, subject=subject)

        def record() -> None:
            if store is not None:
                try:
                    jobstore.save(store, job)
                except Exception:  # the job's own outcome matters more than its record
                    log.exception("could not record job %s", job.job_id)

        record()
        with self._lock:
            self._jobs[job.job_id] = job
            for old in sorted(self._jobs.values(), key=lambda j: j.created_at)[: -self._keep]:
                if old.state in ("done", "failed"):
                    del self._jobs[old.job_id]

        def run() -> None:
            with self._run_lock:
                job.state = "running"
                record()
                try:
                    job.result = fn(job)
                    job.state = "done"
                except ImportRejected as exc:
                    job.state, job.message = "failed", str(exc)
                    job.message_id, job.message_params = exc.reason_id, exc.params
                    job.errors = [asdict(e) for e in exc.errors]
                except (InvoiceError, LookupError) as exc:
                    job.state, job.message = "failed", str(exc)
                    if isinstance(exc, InvoiceError):
                        job.message_id, job.message_params = exc.reason_id, exc.params
                except Exception as exc:  # report, never lose the job
                    job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
                finally:
                    job.finished_at = time.time()
                    record()

        threading.Thread(target=run, name=f"invoice-job-{job.job_id[:8]}", daemon=True).start()
        return job

    def submit_import(
        self,
        store: Store,
        path: Path,
        *,
        verify_after: bool = True,
        delete_after: bool = False,
        **kw: Any,
    ) -> Job:
        """Import (then verify) a file in the background; ``kw`` go to import_invoice."""
        size = path.stat().st_size if path.exists() else 0

        def work(job: Job) -> dict[str, Any]:
            def progress(rows: int, read: int) -> None:
                job.rows, job.bytes_read = rows, read

            try:
                res = import_invoice(store, path, progress=progress, **kw)
            finally:
                if delete_after:
                    path.unlink(missing_ok=True)
            out: dict[str, Any] = {
                "invoice_id": res.invoice_id,
                "status": res.status,
                "rows": res.rows,
                "billed_total": str(res.billed_total),
            }
            if verify_after:
                job.message = "verifying"
                run = verify_invoice(store, res.invoice_id)
                out["verification"] = {
                    k: str(v) if isinstance(v, Decimal) else v for k, v in run.items()
                }
            return out

        return self.submit("import", work, size, store=store, subject=kw.get("file_name") or "")


registry = JobRegistry()
