"""Who may scrape /metrics: Prometheus with the scrape token, or an admin/auditor token.

/metrics carries business figures (per-pool KPIs, per-bureau candidate counts,
budgets, findings) that the API refuses a bureau, so it is not public: every
scrape of the API's /metrics and of the worker's and collectors' metrics port
needs ``Authorization: Bearer <token>``, where the token is the scrape token
(the first line of ``CLOUDTALLY_METRICS_TOKEN_FILE``; Prometheus reads the same
file as ``authorization.credentials_file``) or an admin or auditor API token.
Only with ``CLOUDTALLY_API_AUTH=false`` (local experiments) is it open.
"""

from __future__ import annotations

import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloudtally.core.access import authenticate, hash_token
from cloudtally.metrics import METRICS_REFUSED


def _read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        first = path.read_text().strip().splitlines()
    except OSError:
        return None
    return first[0].strip() if first and first[0].strip() else None


def allowed(settings: Any, authorization: str | None) -> bool:
    """True if the Authorization header may read the metrics (counted when refused)."""
    if not settings.api_auth:
        return True
    ok = False
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
        scrape = _read_token(settings.metrics_token_file)
        if scrape and hmac.compare_digest(hash_token(token), hash_token(scrape)):
            ok = True
        else:
            from cloudtally.api.auth import current_tokens

            principal = authenticate(token, current_tokens(settings))
            ok = principal is not None and principal.can_read_all
    if not ok:
        METRICS_REFUSED.inc()
    return ok


def serve_metrics(settings: Any, port: int, addr: str) -> ThreadingHTTPServer:
    """The worker's / collectors' metrics port, with the same token rule as the API."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not allowed(settings, self.headers.get("Authorization")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", "Bearer")
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"scrape token required (CLOUDTALLY_METRICS_TOKEN_FILE)\n")
                return
            body = generate_latest()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((addr, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
