-- Automated under-utilization alerts (cloudtally.analytics.alerts).
--
-- alert_state: one row per transition of a candidate (kind, vm_id, disk_id); the
-- row with the highest version is the candidate's current state (open or
-- resolved). It is what makes alerts "once per change": a run diffs the current
-- candidates against the open rows here, so a restart never resends. Read the
-- current state with argMax(..., version) or FINAL.
CREATE TABLE IF NOT EXISTS alert_state (
    kind String,
    vm_id String,
    disk_id String,
    status Enum8('open' = 1, 'resolved' = 2),
    opened_at DateTime('UTC'),
    resolved_at Nullable(DateTime('UTC')),
    episode UInt32,
    evidence_window String,
    evidence String,
    bureau String,
    system String,
    pool String,
    provider String,
    freed_vcpu Int32,
    freed_mem_gb Decimal(12, 3),
    freed_storage_gb Decimal(14, 3),
    savings_year Nullable(Decimal(18, 2)),
    last_event_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (kind, vm_id, disk_id);

-- Audit trail: every alert event handed to the alerts topic, as sent. A crash
-- between sending and recording resends the same event (same event_id) on the
-- next run, so duplicates here carry the same event_id.
CREATE TABLE IF NOT EXISTS alert_events (
    event_id String,
    at DateTime('UTC'),
    as_of Date,
    kind String,
    change Enum8('new' = 1, 'resolved' = 2),
    vm_id String,
    disk_id String,
    bureau String,
    system String,
    pool String,
    provider String,
    payload String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (kind, vm_id, disk_id, at);
