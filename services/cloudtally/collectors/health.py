"""Collector health on /metrics: samples sent (producer counters), lag, errors, last success.

Names are the contract with deploy/prometheus/rules (CollectorSilent) and docs/collectors.md.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

LAG = Gauge(
    "cloudtally_collector_lag_seconds",
    "Wall clock minus the last sample time a source has sent",
    ["source"],
)
LAST_SUCCESS = Gauge(
    "cloudtally_collector_last_success_timestamp_seconds",
    "When a source last completed a window (query or scrape) and sent it",
    ["source"],
)
ERRORS = Counter(
    "cloudtally_collector_errors_total",
    "Collector failures and rejected series, by reason",
    ["source", "reason"],
)
DATA_UNTIL = Gauge(
    "cloudtally_collector_data_until_timestamp_seconds",
    "Last sample time a source has sent (inclusive)",
    ["source"],
)


def window_done(source: str, data_until: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    LAST_SUCCESS.labels(source).set(now)
    DATA_UNTIL.labels(source).set(data_until)
    LAG.labels(source).set(max(0.0, now - data_until))


def error(source: str, reason: str, n: int = 1) -> None:
    ERRORS.labels(source, reason).inc(n)
