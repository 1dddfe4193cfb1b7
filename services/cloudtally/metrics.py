"""Every Prometheus metric the services expose, defined once.

Names are the contract with deploy/prometheus rules and grafana dashboards:
change them there too.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Collectors.
SAMPLES_PRODUCED = Counter(
    "cloudtally_samples_produced_total", "Samples sent to Kafka by collectors", ["source"]
)
BATCHES_PRODUCED = Counter(
    "cloudtally_batches_produced_total", "Sample batches (messages) sent to Kafka", ["source"]
)
INVENTORY_PRODUCED = Counter(
    "cloudtally_inventory_events_produced_total", "Inventory events sent to Kafka", ["source"]
)

# Worker ingest.
MESSAGES_CONSUMED = Counter(
    "cloudtally_messages_consumed_total", "Kafka messages consumed by the worker", ["topic"]
)
SAMPLES_INGESTED = Counter(
    "cloudtally_samples_ingested_total", "Rows written to the store", ["table"]
)
DEAD_LETTERS = Counter(
    "cloudtally_dead_letters_total",
    "Rejected messages or rows sent to the dead-letter topic",
    ["topic", "section", "reason"],
)
INSERT_ROWS = Histogram(
    "cloudtally_insert_batch_rows",
    "Rows per store insert",
    ["table"],
    buckets=(100, 1_000, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000),
)
INSERT_SECONDS = Histogram(
    "cloudtally_insert_seconds",
    "Store insert latency",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FLUSH_SECONDS = Histogram(
    "cloudtally_flush_seconds",
    "Time to decode, validate and write one consumed batch",
    ["topic"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_OFFSET = Gauge(
    "cloudtally_consumer_committed_offset",
    "Last offset flushed to the store, per topic partition",
    ["topic", "partition"],
)
CONSUMER_HIGHWATER = Gauge(
    "cloudtally_consumer_highwater",
    "High watermark seen in fetch responses, per topic partition",
    ["topic", "partition"],
)
INGEST_ERRORS = Counter(
    "cloudtally_ingest_errors_total", "Errors while writing to the store (batch retried)", ["stage"]
)
LAST_FLUSH = Gauge(
    "cloudtally_last_flush_timestamp_seconds", "Unix time of the last successful flush", ["topic"]
)
