"""Response headers every answer carries (an ASGI middleware, so streaming stays streaming).

* ``X-Content-Type-Options: nosniff`` everywhere: a CSV or JSON body is never
  sniffed into HTML or script.
* ``Cache-Control: no-store`` on every response to a request that carried
  credentials (an ``Authorization`` header): bureau data never lands in a
  shared or browser cache. Routes that set their own Cache-Control keep it.
* The HTML reports under ``/api/`` get a restrictive Content-Security-Policy
  (no script, no outside fetches, no framing, inline styles only) plus
  ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``: a provider's
  text rendered in a report cannot run or phone home even if escaping failed.
"""

from __future__ import annotations

from typing import Any

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

Scope = dict[str, Any]


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(k == b"authorization" for k, _ in scope.get("headers", []))
        report_path = scope.get("path", "").startswith("/api/")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                if authenticated and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if report_path and ctype.startswith(b"text/html"):
                    headers += [
                        (b"content-security-policy", REPORT_CSP.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"no-referrer"),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
