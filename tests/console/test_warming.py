"""Warming (console/warming.py): after a rating run the buyer's heavy pages are computed
in the background, so the first reader is answered from kept results — with the
figures a fresh computation gives — and the warm runs are counted."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

from prometheus_client import REGISTRY

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.billing.rate import rate_period
from cloudtally.console import warming
from cloudtally.core.policy import load_policy
from cloudtally.queries import memo
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.api.fleet import BUREAU_VMS, SH, plant, policy, policy_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAGES = ("/console/home", "/console/bills", "/console/candidates", "/console/availability",
         "/console/faults", "/console/scorecards")  # fmt: skip


def _runs(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("cloudtally_console_warm_runs_total", {"outcome": outcome}) or 0.0
    )


def _figures(html: str) -> str:
    """The page without what differs between two renderings of the same figures."""
    return re.sub(r'name="csrf" value="[^"]*"', "", html)


def test_a_rating_run_warms_the_buyers_pages_with_fresh_figures(
    store: Store, tmp_path: Path
) -> None:
    pol = policy()
    plant(store, pol)  # October 2023 rated through the 22nd
    (tmp_path / "policy.yaml").write_text(policy_text(), encoding="utf-8")
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", list(BUREAU_VMS))
    settings = Settings(_env_file=None, api_tokens_file=tmp_path / "tokens.yaml",  # type: ignore[call-arg]
                        data_dir=tmp_path, policy_file=tmp_path / "policy.yaml")  # fmt: skip
    app = create_api(settings, lambda: store)
    warmer = warming.Warmer(app, interval_s=1.0)  # looked at by hand here, not on a timer
    client = TestClient(app)
    r = client.post("/console/login", data={"token": tokens["admin"]}, follow_redirects=False)
    assert r.status_code == 303
    done0 = _runs("done")

    assert warmer.look() is True  # the first look warms
    before = {url: client.get(url).text for url in PAGES}
    assert warmer.look() is False  # nothing changed: no run

    # a rating run: October re-rated with the tender discount corrected (0.55 -> 0.60)
    corrected = load_policy(policy_text().replace("tender_discount: 0.55", "tender_discount: 0.60"))
    rate_period(store, corrected, dt.datetime(2023, 10, 9, tzinfo=SH),
                dt.datetime(2023, 10, 23, tzinfo=SH), reason="discount corrected")  # fmt: skip
    assert warmer.look() is True
    assert warmer.runs == 2 and _runs("done") == done0 + 2
    assert (REGISTRY.get_sample_value("cloudtally_console_warm_seconds_count") or 0) >= 2

    misses = memo.QUERIES.misses
    kept = {url: client.get(url) for url in PAGES}
    assert all(r.status_code == 200 for r in kept.values())
    assert memo.QUERIES.misses == misses  # every figure came from what the warm run kept
    assert kept["/console/home"].text != before["/console/home"]  # ... and it is the new one

    memo.QUERIES.clear()  # a fresh computation of the same pages
    for url, answer in kept.items():
        fresh = client.get(url)
        assert _figures(fresh.text) == _figures(answer.text), url


def test_a_warm_run_waits_while_the_worker_drains_a_backlog(store: Store, tmp_path: Path) -> None:
    """Embedded, the warm run is pure Python in the ingest's process: while a backlog
    drains it is deferred (counted), the change stays unseen, and it warms after."""
    from cloudtally.worker.backlog import Backlog

    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    backlog = Backlog(full_at=10, max_defer_s=60.0, clock=Clock())
    pol = policy()
    plant(store, pol)
    (tmp_path / "policy.yaml").write_text(policy_text(), encoding="utf-8")
    write_demo_tokens(tmp_path / "tokens.yaml", list(BUREAU_VMS))
    settings = Settings(_env_file=None, api_tokens_file=tmp_path / "tokens.yaml",  # type: ignore[call-arg]
                        data_dir=tmp_path, policy_file=tmp_path / "policy.yaml")  # fmt: skip
    app = create_api(settings, lambda: store)
    warmer = warming.Warmer(app, 1.0, yields=backlog)
    deferred0, done0 = _runs("deferred"), _runs("done")
    backlog.noted(10)  # a full take: the ingest is behind
    assert warmer.look() is False and warmer.runs == 0
    assert _runs("deferred") == deferred0 + 1
    backlog.noted(2)  # caught up
    assert warmer.look() is True and warmer.runs == 1 and _runs("done") == done0 + 1
    assert warmer.look() is False  # seen now: nothing left to warm

    # a backlog that begins during a run: the run leaves the rest, and warms later
    rate_period(store, pol, dt.datetime(2023, 10, 9, tzinfo=SH),
                dt.datetime(2023, 10, 23, tzinfo=SH), reason="re-rated")  # fmt: skip
    pages = warming._pages(app)
    assert len(pages) > 3

    class Begins:
        """Caught up at the run's start; behind from the third page on."""

        asked = 0

        def holds(self, step: str) -> bool:
            return False

        def draining(self) -> bool:
            self.asked += 1
            return self.asked > 3

    begins = Begins()
    warmer.yields = begins
    assert warmer.look() is False and warmer.runs == 1
    assert begins.asked == 4  # the start, then before each page until the backlog
    assert _runs("deferred") == deferred0 + 2
    warmer.yields = None
    assert warmer.look() is True and warmer.runs == 2  # the change was not taken as seen
