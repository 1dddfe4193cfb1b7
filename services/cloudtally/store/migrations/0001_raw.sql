-- Raw truth: metric samples and VM inventory as reported, deduplicated by key.
-- ReplacingMergeTree keyed by (vm_id, ts): a redelivered batch collapses onto
-- the same rows; a corrected sample (higher version) wins. Read with FINAL.

CREATE TABLE IF NOT EXISTS samples (
    vm_id String,
    ts DateTime('UTC'),
    cpu_pct Float32,
    mem_pct Float32,
    source String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (vm_id, ts);

CREATE TABLE IF NOT EXISTS disk_samples (
    vm_id String,
    disk_id String,
    ts DateTime('UTC'),
    used_gb Float64,
    source String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (vm_id, disk_id, ts);

-- VM lifecycle history: one row per inventory event; current state = latest event.
CREATE TABLE IF NOT EXISTS vm_inventory (
    vm_id String,
    event_ts DateTime('UTC'),
    event Enum8('created' = 1, 'updated' = 2, 'deleted' = 3),
    name String,
    bureau String,
    system String,
    pool String,
    provider String,
    vcpu UInt16,
    mem_gb Decimal(12, 3),
    disk_ids Array(String),
    disk_size_gb Array(Decimal(14, 3)),
    disk_tiers Array(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (vm_id, event_ts);

-- Rejected input, also on the dead-letter topic; kept here so the API can show it.
-- Keyed by source position, so a redelivered message does not count twice.
CREATE TABLE IF NOT EXISTS dead_letters (
    received_at DateTime('UTC'),
    topic String,
    partition UInt32,
    offset UInt64,
    row_index Int32,
    section String,
    reason String,
    payload String,
    payload_encoding String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset, row_index);

-- Consumer progress as flushed: what the sink wrote, per source partition.
CREATE TABLE IF NOT EXISTS ingest_log (
    flushed_at DateTime('UTC'),
    consumer String,
    topic String,
    partition UInt32,
    first_offset UInt64,
    last_offset UInt64,
    messages UInt32,
    rows_written UInt64,
    rows_rejected UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(flushed_at)
ORDER BY (topic, partition, last_offset);

-- Hours whose raw samples changed, for the rollup step to recompute (crash-safe:
-- the rollup step keeps a watermark on `version`, the ingest time in ms).
CREATE TABLE IF NOT EXISTS rollup_queue (
    vm_id String,
    hour DateTime('UTC'),
    version UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (version, vm_id, hour);
