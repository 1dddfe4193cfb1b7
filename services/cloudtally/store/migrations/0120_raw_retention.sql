-- Raw-data retention (cloudtally.store.retention): one row per raw-table partition
-- dropped, written before the drop, with the rule's inputs. The audit ledger's
-- `raw_retention` entry hashes these rows, so the removal of raw evidence is provable.
CREATE TABLE IF NOT EXISTS raw_retention_log (
    drop_id String,
    dropped_at DateTime('UTC'),
    table_name String,
    partition String,
    month Date,
    rows UInt64,
    bytes UInt64,
    keep_months UInt16,
    kept_from Date,
    actor String,
    reason String
) ENGINE = MergeTree
ORDER BY (dropped_at, drop_id, table_name)
