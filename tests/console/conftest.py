"""The console over a real store and a real HTTP server, driven by Debian's chromium.

One planted fleet per engine (module scope, like tests/api/fleet.py): the two-bureau
utilization fleet of October 2023 (idle, rightsizing, night-batch, storage-idle VMs),
rolled up and rated, plus the invoice tests' rated fleet of January 2024 (bill lines
for invoices with planted errors, uploaded through the browser), plus the availability
fleet of March–April 2023 (tests/evaluation/fleet.py: known downtime, a collector
outage, a VM that moves from edu to health). The API app with the
console runs under uvicorn on a free loopback port; Playwright drives
``/usr/bin/chromium`` (never a browser of its own).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.core.policy import Policy
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings
from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.api.fleet import BUREAU_VMS, plant, policy, policy_text
from tests.conftest import unavailable
from tests.evaluation.fleet import plant as plant_availability

CHROMIUM = os.environ.get("CLOUDTALLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.11.0.min.js"


@dataclass
class Console:
    base: str
    tokens: dict[str, str]
    store: Store
    policy: Policy
    engine: str
    tmp: Path
    invoice_fleet: tuple[Any, Any]  # expected charges and lifecycles (January 2024)


def _serve(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("console server did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="package", params=["chdb", pytest.param("server", marks=pytest.mark.server)])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """The planted fleets behind a running console, on a database of its own (one per
    engine for the whole package: the page tests run first, then the workflows)."""
    from tests.api.test_invoices_api import fleet as invoice_fleet

    database = f"t_console_{uuid.uuid4().hex[:10]}"
    if request.param == "chdb":
        url = request.getfixturevalue("chdb_url")
    else:
        url = f"{request.getfixturevalue('clickhouse_server').url}/{database}"
    store = open_store(url, database=database)
    tmp = tmp_path_factory.mktemp("console")
    server = None
    try:
        migrate(store)
        pol = policy()
        plant(store, pol)
        charges = invoice_fleet(store)
        plant_availability(store)  # March–April 2023: downtime, an outage, a moved VM
        # the pipeline page's data: a malformed message through the real ingest sink
        IngestSink(store).write_samples([RawMessage("samples", 1, 7, b"\xff not json")])
        policy_file = tmp / "policy.yaml"
        policy_file.write_text(policy_text(), encoding="utf-8")
        tokens = write_demo_tokens(tmp / "tokens.yaml", list(BUREAU_VMS))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            api_tokens_file=tmp / "tokens.yaml",
            data_dir=tmp,
            policy_file=policy_file,
        )
        port = free_port()
        server, _thread = _serve(create_api(settings, lambda: store), port)
        yield Console(f"http://127.0.0.1:{port}", tokens, store, pol, request.param, tmp, charges)
    finally:
        if server is not None:
            server.should_exit = True
        try:
            store.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        unavailable(f"chromium not found at {CHROMIUM} (deploy/local/install-system-deps.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("PyPI playwright is not installed")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


class Session:
    """A signed-in browser context (its own cookies) for one role."""

    def __init__(self, browser: Any, console: Console, role: str, lang: str = "zh"):
        self.console = console
        self.role = role
        self.context = browser.new_context(viewport={"width": 1360, "height": 900},
                                           locale="zh-CN" if lang == "zh" else "en-US")  # fmt: skip
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.goto(f"{console.base}/console/login")
        self.page.fill("#token", console.tokens[role])
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/console/home**")
        if lang == "en":
            self.page.goto(f"{console.base}/console/lang/en")

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.console.base + path)
        assert response is not None
        return response

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.console.engine}-{self.role.replace(':', '-')}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self) -> list[dict[str, Any]]:
        """Serious and critical axe-core violations of the current page."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def signed_in(browser: Any, console: Console) -> Iterator[Any]:
    sessions: list[Session] = []

    def make(role: str, lang: str = "zh") -> Session:
        s = Session(browser, console, role, lang)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()
