"""The console's heavy pages computed in the background after the data behind them
changed, so the first reader after a rating run does not wait seconds for them.

Why: at Hainan scale the buyer's scorecards took ~40 s, availability, the candidates
(on the home page) and the fault report 1.5–5 s on the first request after a rating run,
a close, an invoice import or a fault upload; later requests are served from the kept
results (:mod:`cloudtally.queries.memo`) in milliseconds. The API process's warm thread
looks every ``CLOUDTALLY_CONSOLE_WARM_INTERVAL_S`` seconds at the data-part signatures
of the tables those acts write (:data:`TRIGGERS`, :mod:`cloudtally.queries.parts`: no
store query when nothing changed) and, when one moved, computes the buyer's default
pages (:func:`_pages`) through their own handlers — the same kept keys a reader's request
uses, so the reader gets the warmed result, and the figures are the ones a fresh
computation gives (they are one).

Bounded: one warm run at a time, in one thread at the lowest CPU priority (nice 19);
in embedded mode its store queries give way to any other query waiting for chDB
(:func:`cloudtally.store.chdb_store.background`), so ingest and readers wait at most for
the one warm query already running, and the whole run waits while the worker drains
an ingest backlog (``holds``: worker/backlog.py; the run is pure Python and would hold
the GIL the ingest needs). Runs and their duration are counted
(``cloudtally_console_warm_runs_total`` by outcome done, failed or deferred;
``cloudtally_console_warm_seconds``).
Live ingest changes the current month's rollups every few seconds, so a current
month's availability is stale again soon; the warm run follows the triggers, not every
rollup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request

from cloudtally.core.access import Principal

log = logging.getLogger(__name__)

# What a rating run, a close, an invoice import or verification, a fault upload and a
# scorecard entry write.
TRIGGERS = ("rating_runs", "audit_ledger", "invoices", "verification_runs", "fault_reports",
            "scorecard_entries", "rightsizing_rounds")  # fmt: skip
WARM = Principal("console-warm", "admin")  # the buyer's view: what the buyer's pages keep


def _ctx(app: Any, path: str) -> Any:
    from cloudtally.console.app import Ctx

    scope = {"type": "http", "app": app, "method": "GET", "path": path, "root_path": "",
             "headers": [], "query_string": b"", "scheme": "http", "server": ("warm", 80),
             "state": {}}  # fmt: skip
    request = Request(scope)
    request.state.started = time.perf_counter()
    return Ctx(request, WARM, "", "zh")


def _pages(app: Any) -> list[tuple[str, Callable[[Any], Any]]]:
    """The buyer's default pages, heaviest first: home, the month's statement, the
    candidates, availability, faults, the scorecards and each pool's card (with its
    history), the pools, the newest round and invoice, and the search index."""
    from cloudtally.console import evaluation_pages as ev
    from cloudtally.console import pages
    from cloudtally.queries.search import search

    found: list[tuple[str, Callable[[Any], Any]]] = [
        ("/console/home", lambda c: pages.home(c)),
        ("/console/bills", lambda c: pages.bills(c)),
        ("/console/candidates", lambda c: pages.candidates_page(c)),
        ("/console/availability", lambda c: ev.availability_page(c)),
        ("/console/faults", lambda c: ev.faults_page(c)),
        ("/console/scorecards", lambda c: ev.scorecards_page(c)),
    ]
    ctx = _ctx(app, "/console/scorecards")
    year = ev._fiscal_year(ctx, None)
    for provider, pool in ev._pools(ctx.policy()):
        found.append((f"/console/scorecards/{year}/{provider}/{pool}",
                      lambda c, p=provider, q=pool: ev.scorecard_page(c, year, p, q)))  # fmt: skip
    found += [
        ("/console/pools", lambda c: pages.pools_page(c)),
        ("/console/invoices", lambda c: pages.invoices_page(c)),
        ("/console/rounds", lambda c: pages.rounds_page(c)),
        ("search", lambda c: search(c.store, "a", bureau=None, invoices=True)),
    ]
    from cloudtally.invoices import store as inv

    for r in pages._rounds(ctx)[:1]:  # the newest round
        found.append((f"/console/rounds/{r['round_id']}",
                      lambda c, r=r: pages.round_page(c, r["round_id"])))  # fmt: skip
    for i in inv.list_invoices(ctx.store)[-1:]:  # the newest invoice, unfiltered
        found.append((f"/console/invoices/{i['invoice_id']}",
                      lambda c, i=i: pages.invoice_page(c, i["invoice_id"], None, None, None,
                                                        None)))  # fmt: skip
    return found


def warm_now(app: Any, stop: Callable[[], bool] | None = None) -> dict[str, float] | None:
    """Compute the buyer's heavy pages once (what is kept and current costs little);
    seconds per page. None when ``stop()`` said, between two pages, to leave the rest."""
    from cloudtally.store.chdb_store import background

    took: dict[str, float] = {}
    store = app.state.store_provider()
    with background(store):
        for path, handler in _pages(app):
            if stop is not None and stop():
                return None
            c = time.perf_counter()
            try:
                handler(_ctx(app, path))
            except Exception as exc:  # a page that fails warms nothing; the reader sees why
                took[path] = -1.0
                log.warning("warming %s failed: %s", path, exc)
                continue
            took[path] = round(time.perf_counter() - c, 3)
    return took


def signature(store: Any) -> tuple[Any, ...]:
    from cloudtally.queries.parts import signature as parts

    return tuple(parts(store, t) for t in TRIGGERS)


class Yields(Protocol):
    """What a warm run gives way to (the embedded worker's ingest backlog)."""

    def holds(self, step: str) -> bool:
        """Whether ``step`` waits now (bounded: true for at most a while)."""
        ...

    def draining(self) -> bool:
        """Whether the ingest is behind right now."""
        ...


class Warmer:
    """The warm thread of one API process."""

    def __init__(self, app: Any, interval_s: float, yields: Yields | None = None) -> None:
        self.app, self.interval_s, self.yields = app, interval_s, yields
        self.seen: tuple[Any, ...] | None = None
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="console-warm", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # the lowest CPU priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.wait(self.interval_s):
            self.look()

    def look(self) -> bool:
        """Warm if a trigger table changed since the last look; whether it did."""
        try:
            now = signature(self.app.state.store_provider())
        except Exception as exc:  # the store is down: try again at the next look
            log.debug("warm check failed: %s", exc)
            return False
        if now == self.seen:
            return False
        from cloudtally import metrics

        if self.yields is not None and self.yields.holds("console-warm"):
            metrics.WARM_RUNS.labels("deferred").inc()
            return False  # seen stays: the next look after the backlog warms
        if not self.run():
            metrics.WARM_RUNS.labels("deferred").inc()
            return False  # left for a backlog that began meanwhile: seen stays too
        self.seen = now
        return True

    def run(self) -> bool:
        """One warm run; False when a backlog began during it and it left the rest (a
        run that began while the ingest was behind, its bound reached, goes to the end)."""
        from cloudtally import metrics

        y = self.yields
        stop = None if y is None or y.draining() else y.draining
        c = time.perf_counter()
        try:
            took = warm_now(self.app, stop)
        except Exception:
            metrics.WARM_RUNS.labels("failed").inc()
            log.exception("console warm run failed")
            return True
        finally:
            metrics.WARM_SECONDS.observe(time.perf_counter() - c)
        if took is None:
            log.info("console warm run left after %.1f s: the ingest is behind",
                     time.perf_counter() - c)  # fmt: skip
            return False
        self.runs += 1
        metrics.WARM_RUNS.labels("failed" if -1.0 in took.values() else "done").inc()
        log.info("console pages warmed in %.1f s: %s", time.perf_counter() - c, took)
        return True


def start(app: Any, yields: Yields | None = None) -> Warmer | None:
    """Start the API process's warm thread (unless ``console_warm_interval_s`` is 0);
    ``yields``: what its runs give way to (the embedded worker's backlog)."""
    interval = float(app.state.settings.console_warm_interval_s)
    if interval <= 0:
        return None
    warmer = Warmer(app, interval, yields)
    app.state.console_warmer = warmer
    warmer.start()
    return warmer
