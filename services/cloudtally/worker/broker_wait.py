"""A worker that starts while the broker is down waits for it instead of exiting.

Seen under ``cloudtally up`` (issue #11): the supervisor restarted a crashed
Tansu just as the worker started; the worker's topic check could not bootstrap
(kafka-python gives up after ~40 s), the worker exited with code 1 and that ended
the whole run. Now the start waits, however long it takes, with the store's
capped backoff ladder (worker/hold.py), a log line per attempt that says why,
and, where this worker serves the API, a stand-in ``/readyz`` on the API port
that answers 503 "broker unavailable" with the reason until the real API starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudtally.settings import Settings
from cloudtally.worker.hold import backoff

log = logging.getLogger(__name__)


class WaitingReadiness:
    """503 with why the worker is not consuming yet, on every path but ``/healthz``."""

    def __init__(self, host: str, port: int) -> None:
        self.state: dict[str, Any] = {"status": "broker unavailable", "reason": "starting"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                alive = self.path.split("?")[0] == "/healthz"  # alive, only not consuming
                body = json.dumps({"status": "ok"} if alive else outer.state).encode()
                self.send_response(200 if alive else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:  # quiet: the worker log says it
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def _readiness(settings: Settings, serve: bool) -> Iterator[WaitingReadiness | None]:
    if not serve:
        yield None
        return
    try:
        stand_in: WaitingReadiness | None = WaitingReadiness(settings.api_host, settings.api_port)
    except OSError as exc:  # the port is taken: the log lines still say why
        log.warning("no stand-in /readyz while waiting for the broker: %s", exc)
        stand_in = None
    try:
        yield stand_in
    finally:
        if stand_in is not None:
            stand_in.close()


def wait_for_broker(
    settings: Settings,
    prepare: Callable[[Settings], object],
    *,
    serve_readiness: bool,
    ready: Callable[[str, float], bool] | None = None,
    max_delay_s: float = 10.0,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Run ``prepare`` (create the topics) once the broker answers; wait as long as needed."""
    if ready is None:
        from cloudtally.broker.embedded import broker_ready as ready
    started, attempt = time.monotonic(), 0
    with _readiness(settings, serve_readiness) as stand_in:
        while True:
            reason = "no answer at " + settings.kafka_bootstrap
            if ready(settings.kafka_bootstrap, 3.0):
                try:
                    prepare(settings)
                except Exception as exc:  # it dropped between the probe and the topics
                    reason = f"{type(exc).__name__}: {exc}"[:300]
                else:
                    if attempt:
                        log.warning(
                            "broker reachable after %.0fs: starting to consume",
                            time.monotonic() - started,
                        )
                    return
            delay = backoff(attempt, max_delay_s)
            attempt += 1
            log.warning(
                "broker not reachable at start (attempt %d, %s); waiting %ss",
                attempt,
                reason,
                delay,
            )
            if stand_in is not None:
                stand_in.state = {
                    "status": "broker unavailable",
                    "reason": f"waiting for the broker at start: {reason}",
                    "attempts": attempt,
                    "waiting_s": round(time.monotonic() - started, 1),
                }
            sleep(delay)
