"""How many threads run the API's route handlers at once.

FastAPI runs every synchronous route in anyio's worker threads, 40 by default. In
embedded mode the API lives in the worker process, next to the ingest: there, 40
threads running Python (rendering, serialising kept answers) contend with the ingest's
threads for the interpreter lock, and 40 threads waiting for chDB (one query at a time
per process) queue ahead of the ingest's inserts. A few threads serve a cached answer
just as fast (each takes a millisecond or two) and leave the ingest its share;
requests beyond them wait on the event loop, which costs nothing.
``CLOUDTALLY_API_THREADS`` (0 = 4 in embedded mode, anyio's 40 otherwise).
"""

from __future__ import annotations

from typing import Any

EMBEDDED_THREADS = 4


def handler_threads(settings: Any) -> int:
    """The number of handler threads for these settings (0: anyio's default, untouched)."""
    given = int(getattr(settings, "api_threads", 0) or 0)
    if given > 0:
        return given
    return EMBEDDED_THREADS if getattr(settings, "mode", "") == "embedded" else 0


class HandlerThreads:
    """ASGI middleware: sets anyio's thread limit for route handlers on the first request
    (the limiter belongs to the running event loop, which exists only then)."""

    def __init__(self, app: Any, threads: int) -> None:
        self.app, self.threads, self._set = app, threads, False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._set and self.threads > 0:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            self._set = True
        await self.app(scope, receive, send)
