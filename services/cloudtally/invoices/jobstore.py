"""Import and verification jobs kept in the store: a job id survives a restart.

The registry (:class:`cloudtally.invoices.service.JobRegistry`) writes a job's
row at every state change (queued, running, done | failed) and reads unknown
ids from here. Each process has a boot id; a job the store last saw queued or
running under another boot was cut off by a restart: it reads as state
``interrupted`` with what to do (upload the file again — an import is whole or
nothing, so nothing half-imported stays — or POST verify again).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from cloudtally.store import Store

if TYPE_CHECKING:
    from cloudtally.invoices.service import Job

BOOT = uuid.uuid4().hex  # this process


def save(store: Store, job: Job) -> None:
    d = asdict(job)
    store.insert(
        "jobs",
        {
            "job_id": [job.job_id],
            "kind": [job.kind],
            "subject": [job.subject],
            "state": [job.state],
            "rows": [int(job.rows)],
            "bytes_read": [int(job.bytes_read)],
            "bytes_total": [int(job.bytes_total)],
            "message": [job.message],
            "message_id": [job.message_id],
            "message_params": [json.dumps(job.message_params, default=str)],
            "errors": [json.dumps(d["errors"], default=str)],
            "result": [json.dumps(d["result"], default=str)],
            "created_at": [float(job.created_at)],
            "finished_at": [job.finished_at],
            "boot": [BOOT],
            "version": [time.time_ns()],
        },
    )


_COLUMNS = (
    "job_id, kind, subject, state, rows, bytes_read, bytes_total, message, errors, result, "
    "created_at, finished_at, boot, message_id, message_params"
)


def _job(row: dict[str, Any]) -> Job:
    from cloudtally.invoices.service import Job

    job = Job(
        job_id=row["job_id"],
        kind=row["kind"],
        subject=row["subject"],
        state=row["state"],
        rows=int(row["rows"]),
        bytes_read=int(row["bytes_read"]),
        bytes_total=int(row["bytes_total"]),
        message=row["message"],
        message_id=row["message_id"],
        message_params=json.loads(row["message_params"] or "{}"),
        errors=json.loads(row["errors"] or "[]"),
        result=json.loads(row["result"] or "{}"),
        created_at=float(row["created_at"]),
        finished_at=row["finished_at"],
    )
    if job.state in ("queued", "running") and row["boot"] != BOOT:
        job.state = "interrupted"
        job.message = rerun_hint(job)
        verify = job.kind == "verify" and job.subject
        job.message_id = "interrupted_verify" if verify else "interrupted_import"
        job.message_params = {"subject": job.subject}
    return job


def rerun_hint(job: Job) -> str:
    if job.kind == "verify" and job.subject:
        return (
            "interrupted: the process restarted while this job ran; nothing of it was kept. "
            f"Re-run it: POST /api/v1/invoices/{job.subject}/verify"
        )
    return (
        "interrupted: the process restarted while this job ran; an import is whole or not "
        "at all, so nothing of it was kept. Re-run it: upload the file again"
        + (f" ({job.subject})" if job.subject else "")
    )


def load(store: Store, job_id: str) -> Job | None:
    rows = store.dicts(f"SELECT {_COLUMNS} FROM jobs FINAL WHERE job_id = %(id)s", {"id": job_id})
    return _job(rows[0]) if rows else None


def recent(store: Store, limit: int = 200) -> list[Job]:
    rows = store.dicts(
        f"SELECT {_COLUMNS} FROM jobs FINAL ORDER BY created_at DESC LIMIT %(n)s", {"n": limit}
    )
    return [_job(r) for r in reversed(rows)]
