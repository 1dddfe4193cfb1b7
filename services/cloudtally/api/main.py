"""The FastAPI application: bureau-scoped reads over the store.

``create_api`` takes a store provider so the same app runs inside the worker
(embedded mode: the worker's chDB store) or alone against a ClickHouse server.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from cloudtally.api import errors
from cloudtally.api.headers import SecurityHeaders
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.api.routes import (
    allocation,
    audit,
    availability,
    billing,
    collectors,
    fleet,
    health,
    ingest,
    invoices,
    scorecards,
    utilization,
    vms,
)
from cloudtally.settings import Settings
from cloudtally.store import Store

DESCRIPTION = """
Independent metering, billing and invoice verification for e-government cloud VMs.

Authenticate with `Authorization: Bearer <token>`. Roles: **admin** (the buyer),
**auditor** (reads everything), **bureau** (its own VMs, bills and findings only).
"""


def create_api(settings: Settings, store_provider: Callable[[], Store]) -> FastAPI:
    app = FastAPI(
        title="cloudtally",
        version="0.1.0",
        description=DESCRIPTION,
        default_response_class=ExactJSONResponse,
    )
    app.state.settings = settings
    app.state.store_provider = store_provider
    from cloudtally.queries import memo

    memo.configure(settings)  # the kept results' memory bound (CLOUDTALLY_KEPT_RESULTS_MB)
    for module in (
        health, fleet, vms, ingest, utilization, allocation, collectors, billing, invoices, audit,
        availability, scorecards,
    ):  # fmt: skip
        app.include_router(module.router)
    from cloudtally.console.app import mount as mount_console

    mount_console(app)  # the staff console at / (console/)
    from cloudtally.api.fastpath import KeptAnswers

    app.add_middleware(KeptAnswers, settings=settings)  # inside SecurityHeaders: same headers
    app.add_middleware(SecurityHeaders)
    from cloudtally.api.threads import HandlerThreads, handler_threads

    app.add_middleware(HandlerThreads, threads=handler_threads(settings))
    errors.install(app)
    return app


def serve(settings: Settings) -> None:
    """Cluster mode: the API as its own process against a ClickHouse server."""
    import uvicorn

    from cloudtally.store import open_store

    if settings.resolved_store_url.startswith("chdb://"):
        raise SystemExit(
            "the API alone cannot open a chDB folder the worker owns; run "
            "`cloudtally worker --with-api` (embedded) or set CLOUDTALLY_STORE_URL to a server"
        )
    if settings.api_workers > 1:  # separate processes, each with its own store client
        uvicorn.run(
            "cloudtally.api.main:cluster_app", factory=True, workers=settings.api_workers,
            host=settings.api_host, port=settings.api_port, log_level="info",
        )  # fmt: skip
        return
    store = open_store(settings.resolved_store_url, settings.database)
    from cloudtally.console import warming

    app = create_api(settings, lambda: store)
    warming.start(app)  # the console's heavy pages, after the data behind them changed
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
    )


def cluster_app() -> FastAPI:
    """One uvicorn worker's app (``CLOUDTALLY_API_WORKERS`` > 1): settings from the
    environment, a store client of its own."""
    from cloudtally.settings import get_settings
    from cloudtally.store import open_store

    settings = get_settings()
    store = open_store(settings.resolved_store_url, settings.database)
    from cloudtally.console import warming

    app = create_api(settings, lambda: store)
    warming.start(app)  # each replica keeps (and warms) its own
    return app
