-- Providers' fault reports (issue #16): one row per fault, as the provider reported it.
-- Keyed by (provider, fault_id): importing a corrected report replaces the fault (the
-- higher version wins); rows the importer rejected are kept with their reason.
-- A time the report leaves blank is stored as 0 (1970-01-01): no fault is that old.
CREATE TABLE IF NOT EXISTS fault_reports (
    provider String,
    fault_id String,
    import_id String,
    file_name String,
    row UInt32,
    severity String,
    received DateTime('UTC'),
    on_site DateTime('UTC'),
    resolved DateTime('UTC'),
    report_delivered DateTime('UTC'),
    systems Array(String),
    description String,
    imported_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (provider, fault_id);

CREATE TABLE IF NOT EXISTS fault_rejections (
    import_id String,
    provider String,
    file_name String,
    row UInt32,
    column String,
    value String,
    reason String,
    imported_at DateTime('UTC')
) ENGINE = MergeTree
ORDER BY (import_id, row);
