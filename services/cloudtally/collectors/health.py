"""Collector health on /metrics: samples sent (producer counters), lag, errors, last success.

The metrics are defined in cloudtally.metrics (the contract with the alert rules:
CloudtallyCollectorSilent); this module is how collectors update them.
"""

from __future__ import annotations

import time

from cloudtally import metrics


def window_done(source: str, data_until: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    metrics.COLLECTOR_LAST_SUCCESS.labels(source).set(now)
    metrics.COLLECTOR_DATA_UNTIL.labels(source).set(data_until)
    metrics.COLLECTOR_LAG.labels(source).set(max(0.0, now - data_until))


def error(source: str, reason: str, n: int = 1) -> None:
    metrics.COLLECTOR_ERRORS.labels(source, reason).inc(n)
