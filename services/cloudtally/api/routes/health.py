"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloudtally.api.auth import tokens_file
from cloudtally.api.deps import StoreDep
from cloudtally.metrics_access import allowed
from cloudtally.store.migrate import available, recorded
from cloudtally.worker.hold import STORE_GATE

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the store answers and is fully migrated (and, in a worker, the broker)",
    responses={503: {"description": "not ready: store down, migrations pending or no tokens"}},
)
def readyz(store: StoreDep, request: Request, response: Response) -> dict[str, object]:
    """Ready when the store answers, is migrated and a valid token set serves (and, in a
    worker, the store holds no batch back and the broker answers). A tokens file that
    stopped loading shows under ``tokens`` (still ready while the last valid set serves)."""
    settings = request.app.state.settings
    tokens: dict[str, object] | None = None
    if settings.api_auth and settings.api_tokens_file:
        tf = tokens_file(settings.api_tokens_file)
        tf.current()
        tokens = tf.status()
        if tf.entries is None:
            response.status_code = 503
            return {"status": "no valid tokens file", "tokens": tokens}
    held = STORE_GATE.unavailable()  # a worker in this process holds a batch past its budget
    if held:
        response.status_code = 503
        return {
            "status": "store unavailable",
            "error": held[0].reason,
            "held": [
                {"stage": h.stage, "since": int(h.since), "attempts": h.attempts} for h in held
            ],
        }
    broker_probe = getattr(request.app.state, "broker_probe", None)
    broker_down = broker_probe() if broker_probe is not None else None
    if broker_down:  # the worker cannot ingest: say why (the supervisor's account included)
        response.status_code = 503
        return {"status": "broker unavailable", "error": broker_down[:500]}
    try:
        done = recorded(store)  # read-only: a probe never changes the store
    except Exception as exc:  # the store is down: say so, do not crash
        response.status_code = 503
        return {"status": "store unavailable", "error": str(exc)[:300]}
    pending = [m.version for m in available() if m.version not in done]
    if pending:
        response.status_code = 503
        return {"status": "migrations pending", "pending": pending}
    out: dict[str, object] = {"status": "ready", "engine": store.engine, "migrations": len(done)}
    if tokens is not None:
        out["tokens"] = tokens
        if not tokens["valid"]:
            out["warning"] = "tokens file invalid: serving the last valid one (see tokens.error)"
    return out


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Business figures: the scrape token or an admin/auditor token (metrics_access)."""
    if not allowed(request.app.state.settings, request.headers.get("authorization")):
        return Response(
            "scrape token required (CLOUDTALLY_METRICS_TOKEN_FILE)\n",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
            media_type="text/plain",
        )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
