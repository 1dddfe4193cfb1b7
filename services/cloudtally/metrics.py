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
# Collector health (collectors/health.py; alert CloudtallyCollectorSilent).
COLLECTOR_LAG = Gauge(
    "cloudtally_collector_lag_seconds",
    "Wall clock minus the last sample time a source has sent",
    ["source"],
)
COLLECTOR_LAST_SUCCESS = Gauge(
    "cloudtally_collector_last_success_timestamp_seconds",
    "When a source last completed a window (query or scrape) and sent it",
    ["source"],
)
COLLECTOR_ERRORS = Counter(
    "cloudtally_collector_errors_total",
    "Collector failures and rejected series, by reason",
    ["source", "reason"],
)
COLLECTOR_DATA_UNTIL = Gauge(
    "cloudtally_collector_data_until_timestamp_seconds",
    "Last sample time a source has sent (inclusive)",
    ["source"],
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

# Utilization intelligence (refreshed by the worker's analytics step).
POOL_UTILIZATION = Gauge(
    "cloudtally_pool_utilization_ratio",
    "Pool utilization this month so far, 0-1; resource = cpu, memory, storage, overall "
    "(mean of the three, the evaluation's figure)",
    ["provider", "pool", "resource"],
)
POOL_SCORE = Gauge(
    "cloudtally_pool_score",
    "Evaluation score this month; indicator = pool_utilization_2pt, cloud_storage_utilization_10pt",
    ["provider", "pool", "indicator"],
)
IDLE_CANDIDATES = Gauge(
    "cloudtally_idle_candidates",
    "Open idle-reclaim candidates; kind = vm, storage_partition",
    ["provider", "pool", "bureau", "kind"],
)
RIGHTSIZING_CANDIDATES = Gauge(
    "cloudtally_rightsizing_candidates",
    "Open rightsizing (downsize) candidates",
    ["provider", "pool", "bureau"],
)
RIGHTSIZING_FREED_VCPU = Gauge(
    "cloudtally_rightsizing_freed_vcpu",
    "vCPU freed if every open rightsizing candidate is downsized",
    ["provider", "pool"],
)
RIGHTSIZING_FREED_MEMORY_GB = Gauge(
    "cloudtally_rightsizing_freed_memory_gb",
    "GB of memory freed if every open rightsizing candidate is downsized",
    ["provider", "pool"],
)
RIGHTSIZING_SAVINGS = Gauge(
    "cloudtally_rightsizing_savings_cny_per_year",
    "CNY per year saved at current catalog prices by the open rightsizing candidates "
    "(display only; money of record is in ClickHouse)",
    ["provider", "pool"],
)
UTILIZATION_ALERTS = Counter(
    "cloudtally_utilization_alerts_total",
    "Candidate events sent to the alerts topic; change = new, resolved",
    ["kind", "change"],
)
ANALYTICS_LAST_SUCCESS = Gauge(
    "cloudtally_analytics_last_success_timestamp_seconds",
    "Unix time of the last successful run of an analytics task "
    "(rollup, rating, alerts, candidates, kpi, billing)",
    ["task"],
)
ANALYTICS_ERRORS = Counter(
    "cloudtally_analytics_errors_total", "Failed runs of an analytics task", ["task"]
)

# Billing and verification (display only; the money of record is in ClickHouse).
BILLING_FY_AMOUNT = Gauge(
    "cloudtally_billing_fiscal_year_amount_cny",
    "Rated amount of the current fiscal year so far, after adjustments (display only)",
    ["provider"],
)
BILLING_BUDGET = Gauge(
    "cloudtally_billing_budget_cny",
    "Budget of the current fiscal year from the policy file; scope = programme or a bureau id",
    ["scope"],
)
VERIFICATION_FINDINGS = Gauge(
    "cloudtally_verification_findings",
    "Findings of the latest verification of each provider's invoices",
    ["provider", "rule", "severity"],
)
