"""The newcomer's walk (issue 13, "Done means"): on the data ``make up``'s first run
writes, signed in as a bureau and as the buyer, the three questions are answered by
clicks from the home page alone, with the figures the API gives:

1. what does my bureau (the province) pay this month, and why — home's month total →
   a system → a VM → its bill lines, each with its derivation sentence;
2. which of my VMs are idle — home's idle table → the VM's utilization charts;
3. what did the provider over-bill — 发票核查 → the demo invoice → its findings by rule
   (the buyer: the planted SLA credit the invoice left out, S1, −47.07; a bureau: its
   own lines' findings only).

The README's first screen describes exactly these clicks. Screenshots go to
tests/artifacts/console/ (``<engine>-newcomer-<role>-<step>.png``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.console import firstrun
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.runner import _fleet_bureaus
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.console.conftest import Console, Session, _serve

VMS, SEED = 24, 1


@pytest.fixture
def demo(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Console, dict[str, Any]]]:
    """The first run's data behind a running console, with ``up``'s demo tokens."""
    tokens_file = tmp_path / "tokens.yaml"
    tokens = write_demo_tokens(tokens_file, _fleet_bureaus(SEED, VMS)[:3])
    settings = Settings(_env_file=None, api_tokens_file=tokens_file,  # type: ignore[call-arg]
                        data_dir=tmp_path)  # fmt: skip
    record = firstrun.build(settings, vms=VMS, seed=SEED, store=store)
    # as up does: the policy version with this fiscal year's budgets the first run published
    settings = settings.model_copy(update={"policy_file": Path(record["policy_file"])})
    server, _thread = _serve(create_api(settings, lambda: store), free_port())
    engine = request.node.callspec.params["store"]
    try:
        yield Console(f"http://127.0.0.1:{server.config.port}", tokens, store, None,  # type: ignore[arg-type]
                      engine, tmp_path, (None, None)), record  # fmt: skip
    finally:
        server.should_exit = True


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("¥", "").strip())


class Walk:
    """One newcomer's browser, and the API asked with the same token."""

    def __init__(self, browser: Any, console: Console, role: str):
        self.s = Session(browser, console, role)
        self.role, self.page, self.console = role, self.s.page, console

    def api(self, path: str) -> Any:
        r = self.page.request.get(self.console.base + path, headers={
            "Authorization": f"Bearer {self.console.tokens[self.role]}"})  # fmt: skip
        assert r.ok, (path, r.status, r.text()[:500])
        return r.json()

    def shot(self, step: str) -> None:
        self.s.shot(f"newcomer-{step}")

    def home(self) -> None:
        self.page.click("nav a[href^='/console/home']")
        self.page.wait_for_selector("[data-testid=month-total]")

    def pays(self) -> str:
        """Question 1: the month's total equals the API's statement; a system → a VM → its
        lines, each with its derivation. Returns the month shown."""
        self.home()
        month = re.search(r"\d{4}-\d{2}", self.page.inner_text(".kpi h2")).group(0)  # type: ignore[union-attr]
        shown = _money(self.page.inner_text("[data-testid=month-total]"))
        st = self.api(f"/api/v1/billing/statements?month={month}&by=system")
        assert shown == Decimal(str(st["total"])) > 0, (shown, st["total"])
        self.shot("home")
        self.page.click("[data-testid=spend-by-system] tbody a >> nth=0")
        self.page.wait_for_url("**system=**")
        self.page.click("[data-testid=system-vms] tbody a >> nth=0")
        self.page.wait_for_url("**vm=**")
        lines = self.page.locator("table.lines tbody tr td.derivation").all_inner_texts()
        assert lines and all("中标折扣" in x or "单价" in x for x in lines), lines[:3]
        self.shot("bill-lines")
        return month

    def idle(self) -> list[str]:
        """Question 2: home's idle VMs are the API's; one click shows the VM's charts."""
        self.home()
        vms = self.page.locator("[data-testid=cand-idle] tbody tr td:first-child a")
        shown = sorted(vms.all_inner_texts())
        as_of = self.page.get_attribute("[data-testid=candidates]", "data-as-of")
        api = self.api(f"/api/v1/utilization/candidates/idle?as_of={as_of}&limit=500")
        assert shown and shown == sorted(c["vm_id"] for c in api["items"]), (shown, api)
        vms.first.click()
        self.page.wait_for_selector("#heat-cpu svg")
        self.shot("idle-vm")
        return shown

    def over_billed(self, invoice_id: str) -> Decimal:
        """Question 3: 发票核查 → the demo invoice: its over-billed total is the API's."""
        self.home()
        self.page.click("nav a[href^='/console/invoices']")
        self.page.click(f"a:has-text('{invoice_id}')")
        self.page.wait_for_selector("[data-testid=over-total]")
        over = _money(self.page.inner_text("[data-testid=over-total]"))
        summary = self.api(f"/api/v1/invoices/{invoice_id}")
        assert over == Decimal(str(summary["over_total"])), (over, summary)
        self.shot("invoice")
        return over


@pytest.mark.timeout(900)
def test_a_newcomer_answers_the_three_questions_by_clicks(browser: Any, demo: Any) -> None:
    console, record = demo
    invoice = record["invoice_id"]

    buyer = Walk(browser, console, "admin")
    buyer.pays()
    assert buyer.idle()
    over = buyer.over_billed(invoice)
    assert over > 0
    # the planted missing SLA credit: one click on its rule
    buyer.page.click("a[href='?rule=S1']")
    buyer.page.wait_for_url("**rule=S1**")
    rows = buyer.page.locator("table.findings tbody tr").all_inner_texts()
    assert len(rows) == 1 and "S1" in rows[0] and "47.07" in rows[0], rows
    buyer.shot("invoice-s1")

    bureau_role = next(r for r in console.tokens if r.startswith("bureau:"))
    bureau = bureau_role.split(":", 1)[1]
    walk = Walk(browser, console, bureau_role)
    walk.pays()
    assert walk.idle()  # the printed bureau has an idle VM (the fleet's idle portal)
    mine = walk.over_billed(invoice)
    assert mine <= over
    cells = walk.page.locator("table.findings tbody tr td:nth-child(5)").all_inner_texts()
    assert set(cells) <= {bureau}, cells
