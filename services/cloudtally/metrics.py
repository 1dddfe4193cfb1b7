"""Every Prometheus metric the services expose, defined once.

Names are the contract with deploy/prometheus rules and grafana dashboards:
change them there too.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Invoice imports (CLI, API): every outcome, so refused input is never silent.
INVOICE_IMPORTS = Counter(
    "cloudtally_invoice_imports_total",
    "Invoice import attempts by result (imported, duplicate, rejected_rows, rejected_file, "
    "refused_currency, refused_mapping)",
    ["result"],
)
INVOICE_IMPORT_ROWS = Counter(
    "cloudtally_invoice_import_rows_total",
    "Rows of imported invoices by the reader that parsed them (columnar: a block at a time "
    "in Arrow; rows: the row parser, for blocks the columnar reader leaves to it)",
    ["reader"],
)

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
PRODUCE_RETRIES = Counter(
    "cloudtally_produce_resent_total",
    "Messages a collector's outbox sent again because the broker did not acknowledge them",
    ["source"],
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
STORE_UNAVAILABLE = Gauge(
    "cloudtally_store_unavailable",
    "1 while a batch has been held past the store retry budget (nothing acked, consumer waits)",
)
STORE_HELD_SECONDS = Gauge(
    "cloudtally_store_held_seconds",
    "Seconds the current batch of a stage has waited for the store (0 = writing normally); "
    "stage = samples, inventory, startup",
    ["stage"],
)
ORPHAN_VMS = Gauge(
    "cloudtally_orphan_vms", "VM ids with samples but no inventory event (kept, not billed)"
)
ORPHAN_OLDEST_AGE = Gauge(
    "cloudtally_orphan_oldest_age_seconds",
    "Seconds since the oldest orphan VM's first sample arrived (0 = no orphans)",
)
STORE_HELD_BATCHES = Gauge(
    "cloudtally_store_held_batches",
    "Batches held unacknowledged because the store cannot be written, per stage",
    ["stage"],
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
DERIVATION_DEFERRED = Counter(
    "cloudtally_derivation_deferred_total",
    "Timer ticks of a derivation task deferred while the ingest drains a backlog",
    ["task"],
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

# Audit ledger (see cloudtally.audit): the outcome of the last `audit verify`.
AUDIT_PROBLEMS = Gauge(
    "cloudtally_audit_problems",
    "Problems the last ledger verification found (0 = every entry matches its rows)",
)
AUDIT_ENTRIES = Gauge("cloudtally_audit_ledger_entries", "Entries in the audit ledger")
AUDIT_LAST_VERIFY = Gauge(
    "cloudtally_audit_last_verify_timestamp_seconds", "When the ledger was last verified"
)
AUDIT_VERIFY_SECONDS = Gauge(
    "cloudtally_audit_verify_seconds", "How long the last ledger verification took"
)


def record_audit(report: object) -> None:
    """Publish a :class:`cloudtally.audit.ledger.VerifyReport` as the audit gauges."""
    import time

    AUDIT_PROBLEMS.set(len(getattr(report, "problems", [])))
    AUDIT_ENTRIES.set(int(getattr(report, "entries", 0)))
    AUDIT_VERIFY_SECONDS.set(float(getattr(report, "seconds", 0.0)))
    AUDIT_LAST_VERIFY.set(time.time())


# Replicated store (cluster mode). The replica gauges are set every 5 s from each
# replica (cloudtally.store.health); replica = host:port.
STORE_FAILOVERS = Counter(
    "cloudtally_store_failovers_total",
    "Store queries retried on another replica; reason = unreachable, timeout, read-only, ...",
    ["reason"],
)
STORE_REPLICA_UP = Gauge(
    "cloudtally_store_replica_up", "1 when the store replica answers", ["replica"]
)
STORE_REPLICA_READONLY = Gauge(
    "cloudtally_store_replica_readonly_tables",
    "Replicated tables read-only on this replica (ZooKeeper lost, or its old session "
    "not expired yet after a crash)",
    ["replica"],
)
STORE_REPLICATION_QUEUE = Gauge(
    "cloudtally_store_replication_queue",
    "Replication queue entries on this replica; kind = all, inserts (parts to fetch), merges",
    ["replica", "kind"],
)
STORE_REPLICA_DELAY = Gauge(
    "cloudtally_store_replica_delay_seconds",
    "How far this replica is behind (max absolute_delay over its tables)",
    ["replica"],
)
STORE_ACTIVE_REPLICAS = Gauge(
    "cloudtally_store_active_replicas",
    "Replicas this replica sees active in ZooKeeper (min over its tables)",
    ["replica"],
)

# Official working-day calendar (cloudtally.core.calendar).
CALENDAR_PROVISIONAL_HOURS = Gauge(
    "cloudtally_calendar_provisional_hours",
    "UTC hours weighted by the plain weekday rule because their local year has no "
    "official working-day schedule; add the year to the policy's official_calendar",
    ["year"],
)

# API access: the tokens file (a bad file keeps the last valid one serving).
TOKENS_FILE_VALID = Gauge(
    "cloudtally_tokens_file_valid", "1 if the tokens file last read loaded, 0 if it did not"
)
TOKENS_FILE_ERRORS = Counter(
    "cloudtally_tokens_file_errors_total", "Tokens file reads that failed (last valid kept)"
)
TOKENS_FILE_LOADED = Gauge(
    "cloudtally_tokens_file_loaded_timestamp_seconds", "Unix time the tokens file last loaded"
)
METRICS_REFUSED = Counter(
    "cloudtally_metrics_scrapes_refused_total", "/metrics requests without a scrape token"
)

# Scorecard survey imports and manual entries (cloudtally.scorecard): refused input is counted.
SCORECARD_INPUTS = Counter(
    "cloudtally_scorecard_inputs_total",
    "Scorecard survey imports and manual entries by kind (survey, entry) and result "
    "(recorded, rejected)",
    ["kind", "result"],
)

# Availability and fault reports (cloudtally.evaluation; docs/availability.md).
FAULT_ROWS = Counter(
    "cloudtally_fault_rows_total",
    "Fault report rows by result (imported, rejected) and files refused whole (refused_file)",
    ["result"],
)
POOL_AVAILABILITY = Gauge(
    "cloudtally_pool_availability_ratio",
    "Pool availability this month so far from the meter, 0-1 (up / (up + down); metering "
    "gaps excluded)",
    ["provider", "pool"],
)
POOL_AVAILABILITY_TARGET = Gauge(
    "cloudtally_pool_availability_target_ratio",
    "The policy's availability target for the pool, 0-1 (compute)",
    ["provider", "pool"],
)

# Raw-data retention (store/retention.py): partitions dropped, and months held back.
RAW_PARTITIONS_DROPPED = Counter(
    "cloudtally_raw_partitions_dropped_total",
    "Monthly partitions of raw tables dropped by the raw retention",
    ["table"],
)
RAW_ROWS_DROPPED = Counter(
    "cloudtally_raw_rows_dropped_total", "Raw rows removed by the raw retention", ["table"]
)
RAW_MONTHS_HELD = Gauge(
    "cloudtally_raw_months_held",
    "Raw months older than the kept window the retention may not drop yet (not issued, "
    "not rolled up, or provisional calendar)",
)

# Kept results (queries/memo.py): read-model results and HTTP answers kept until their
# rows change, bounded by CLOUDTALLY_KEPT_RESULTS_MB (docs/operations.md "Kept results").
KEPT_HITS = Counter(
    "cloudtally_kept_results_hits_total", "Requests for a kept result served from it", ["cache"]
)
KEPT_MISSES = Counter(
    "cloudtally_kept_results_misses_total",
    "Kept results computed (absent, or their rows changed since)",
    ["cache"],
)
KEPT_EVICTIONS = Counter(
    "cloudtally_kept_results_evictions_total",
    "Kept results dropped, least recently used first, to stay within the bound",
    ["cache"],
)
KEPT_BYTES = Gauge(
    "cloudtally_kept_results_bytes", "Bytes the kept results hold (estimated)", ["cache"]
)
KEPT_ENTRIES = Gauge("cloudtally_kept_results_entries", "Kept results held", ["cache"])
# Console warming (console/warming.py): heavy pages computed in the background after
# the data behind them changed, so the first reader does not pay for it.
WARM_RUNS = Counter(
    "cloudtally_console_warm_runs_total",
    "Background warm runs of the console's heavy pages, by outcome (done, failed, deferred "
    "while the embedded worker drains a backlog)",
    ["outcome"],
)
WARM_SECONDS = Histogram(
    "cloudtally_console_warm_seconds",
    "Duration of one background warm run of the console's heavy pages",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
