"""Import and verification jobs live in the store: their ids answer after a restart, and a
job a restart cut off says so and what to re-run."""

from __future__ import annotations

import pytest

from cloudtally.invoices import jobstore
from cloudtally.invoices.generator import generate_invoice, render_focus_csv
from cloudtally.invoices.service import Job, registry
from tests.api.conftest import auth
from tests.api.test_invoices_api import fleet, upload, wait
from tests.invoices.test_store import PROVIDER


def _restart(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a restart does to jobs: the registry's memory is gone, the boot id is new."""
    with registry._lock:
        registry._jobs.clear()
    monkeypatch.setattr(jobstore, "BOOT", "a-later-process")


def test_jobs_survive_a_restart(api, store, monkeypatch) -> None:
    client, tokens = api
    admin = auth(tokens["admin"])
    exp, lifecycle = fleet(store, vms=4)
    lines, _ = generate_invoice(exp, lifecycle, form="focus")
    data = render_focus_csv(lines, provider=PROVIDER, billing_period=(
        exp[0].period_start, exp[0].period_end))  # fmt: skip
    done = wait(client, tokens["admin"], upload(client, tokens["admin"], data, "jan.csv",
                                                format="focus"))  # fmt: skip
    assert done["state"] == "done"
    verify = client.post(f"/api/v1/invoices/{done['invoice_id']}/verify",
                         json={"background": True}, headers=admin)  # fmt: skip
    verified = wait(client, tokens["admin"], verify)
    assert verified["state"] == "done"

    # a job that was running when the process stopped
    cut = Job(job_id="cut-off-verify", kind="verify", state="running", subject="inv-1")
    jobstore.save(store, cut)
    _restart(monkeypatch)

    for job in (done, verified):
        again = client.get(job["status_url"], headers=admin)
        assert again.status_code == 200, again.text
        body = again.json()
        assert body["state"] == "done" and body["invoice_id"] == job["invoice_id"]
        assert body["result"] == job["result"]
    r = client.get("/api/v1/invoices/jobs/cut-off-verify", headers=admin).json()
    assert r["state"] == "interrupted"
    assert "POST /api/v1/invoices/inv-1/verify" in r["message"]
    listed = client.get("/api/v1/invoices/jobs", headers=admin).json()["items"]
    assert {j["job_id"] for j in listed} >= {done["job_id"], verified["job_id"], "cut-off-verify"}
    assert client.get("/api/v1/invoices/jobs/nope", headers=admin).status_code == 404


def test_an_interrupted_import_says_upload_again(store, monkeypatch) -> None:
    jobstore.save(store, Job(job_id="cut-import", kind="import", subject="feb.xlsx"))
    assert jobstore.load(store, "cut-import").state == "queued"  # same process: still queued
    monkeypatch.setattr(jobstore, "BOOT", "later")
    job = jobstore.load(store, "cut-import")
    assert job.state == "interrupted" and "upload the file again (feb.xlsx)" in job.message
