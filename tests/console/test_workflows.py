"""The quarterly rightsizing round end to end, and invoice upload → findings, in the browser."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal
from pathlib import Path

from cloudtally.invoices.generator import ALL_ERRORS, generate_invoice, render_provider_csv
from tests.analytics.plant import inventory


def _decide(s, vm: str, decision: str, reason: str) -> None:
    row = s.page.locator(f"tr[id$='-{vm}']")
    row.locator("input[name=reason]").fill(reason)
    row.locator(f"button[value={decision}]").click()
    s.page.wait_for_selector(f"tr[id$='-{vm}'][data-decision={decision}]")


def test_round_open_decide_export_and_verify_next_round(signed_in, console) -> None:
    admin = signed_in("admin")
    admin.goto("/console/rounds")
    admin.page.fill("#r-from", "2023-10-09")
    admin.page.fill("#r-to", "2023-10-23")
    admin.page.fill("#r-q", "2023-Q4")
    admin.page.click("form[hx-post='/console/rounds'] button")
    admin.page.wait_for_url("**/console/rounds/R*")
    round_url = admin.page.url
    text = admin.page.inner_text("main")
    for vm in ("edu-idle", "health-idle", "health-oversized"):
        assert vm in text, text[:2000]
    admin.shot("round-open")

    health = signed_in("bureau:health")
    health.goto(round_url.removeprefix(console.base))
    assert "edu-idle" not in health.page.content()
    _decide(health, "health-idle", "accepted", "已无业务，可回收")
    # a decline without a reason is refused, and nothing is recorded
    messages: list[str] = []
    health.page.on("dialog", lambda d: (messages.append(d.message), d.dismiss()))
    row = health.page.locator("tr[id$='-health-oversized']")
    row.locator("button[value=declined]").click()
    deadline = time.monotonic() + 10
    while not messages and time.monotonic() < deadline:
        health.page.wait_for_timeout(100)
    assert messages and "reason" in messages[0]
    _decide(health, "health-oversized", "declined", "年底业务高峰")
    health.shot("round-decided")

    edu = signed_in("bureau:edu")
    edu.goto(round_url.removeprefix(console.base))
    _decide(edu, "edu-idle", "accepted", "")
    assert "health-" not in edu.page.content()

    # the work order: the accepted items only, with who decided
    admin.page.reload()
    assert admin.page.inner_text("[data-testid=accepted-count]") == "2"
    with admin.page.expect_download() as dl:
        admin.page.click("text=导出工单")
    body = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(r["vm_id"] for r in rows) == ["edu-idle", "health-idle"]
    assert {r["decided_by"] for r in rows} == {"bureau:edu", "bureau:health"}

    # the provider reclaims health-idle; edu-idle stays: the next round checks both
    inventory(
        console.store, "health-idle", int(time.time()), bureau="health", system="health-sys",
        pool="pool-3", provider="provider-b", vcpu=8, mem_gb="16", event="deleted",
        disks=[("health-idle-d", "100", "standard")],
    )  # fmt: skip
    admin.goto("/console/rounds")
    admin.page.fill("#r-from", "2023-10-09")
    admin.page.fill("#r-to", "2023-10-23")
    admin.page.click("form[hx-post='/console/rounds'] button")
    admin.page.wait_for_function(
        f"location.href !== {round_url!r} && location.pathname.startsWith('/console/rounds/R')"
    )
    admin.page.wait_for_selector("#verification")
    assert admin.page.inner_text("[data-testid=implemented]") == "1"
    assert "已回收" in admin.page.inner_text("tr[data-vm=health-idle]")
    assert "未调整" in admin.page.inner_text("tr[data-vm=edu-idle]")
    saved = Decimal(admin.page.inner_text("[data-testid=saved-total]").replace(",", ""))
    assert saved > 0
    admin.shot("round-verification")
    # a bureau sees the check of its own items only
    edu.goto(admin.page.url.removeprefix(console.base))
    assert "health-idle" not in edu.page.content()


def test_upload_progress_summary_findings_and_dispute(signed_in, console, tmp_path) -> None:
    exp, lifecycle = console.invoice_fleet
    lines, planted = generate_invoice(exp, lifecycle, errors=[e for e in ALL_ERRORS if e != "R3"])
    path = tmp_path / "发票-provider-a.csv"
    path.write_bytes(render_provider_csv(lines, encoding="gb18030"))
    s = signed_in("admin")
    s.goto("/console/invoices")
    s.page.set_input_files("#up-file", str(path))
    s.page.fill("#up-provider", "provider-a")
    s.page.click("#upload-form button")
    s.page.wait_for_selector("#up-result", timeout=90_000)
    assert s.page.eval_on_selector("#up-progress", "e => e.value") == 100
    s.shot("invoices-uploaded")
    s.page.click("#up-result")
    s.page.wait_for_selector("[data-testid=over-total]")
    invoice_id = s.page.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    over = Decimal(s.page.inner_text("[data-testid=over-total]").replace(",", ""))
    assert over > 0
    n = int(s.page.inner_text("[data-testid=findings-count]"))
    assert n >= len(planted) - 1
    s.shot("invoice")
    # filter by rule: only that rule's findings
    rule = s.page.locator("#f-rule option").nth(1).get_attribute("value")
    s.page.select_option("#f-rule", rule)
    s.page.click("form.filters button")
    s.page.wait_for_url(f"**rule={rule}**")
    cells = s.page.locator("table.findings tbody tr td:nth-child(2) .muted").all_inner_texts()
    assert cells and all(c.startswith(rule) for c in cells)
    # the dispute export: the provider's over-billed findings with amounts and evidence
    with s.page.expect_download() as dl:
        s.page.click("text=争议清单（按服务商导出）")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig"))))
    amount = "涉及金额（元）"  # the Chinese console's export: Chinese headers
    assert rows and all(Decimal(r[amount]) > 0 and r["证据"] for r in rows)
    assert sum(Decimal(r[amount]) for r in rows) == over
    # a bureau sees the invoice over its own lines only, as the API's bureau view; no dispute
    edu = signed_in("bureau:edu")
    assert edu.goto("/console/invoices").status == 200
    edu.page.click(f"a:has-text('{invoice_id}')")
    edu.page.wait_for_selector("[data-testid=over-total]")
    api = edu.page.request.get(
        f"{console.base}/api/v1/invoices/{invoice_id}",
        headers={"Authorization": f"Bearer {console.tokens['bureau:edu']}"},
    )
    assert api.ok, api.text()
    mine = Decimal(edu.page.inner_text("[data-testid=over-total]").replace(",", ""))
    assert mine == Decimal(str(api.json()["over_total"])) <= over
    bureaus = edu.page.locator("table.findings tbody tr td:nth-child(5)").all_inner_texts()
    assert bureaus and set(bureaus) == {"edu"}, bureaus
    assert "争议清单" not in edu.page.inner_text("main")
    edu.shot("invoice")
    assert not [(v["id"], v["help"]) for v in edu.axe()]
    assert edu.goto("/console/invoices/dispute/provider-a.csv").status == 403
