-- Large id lists as data: a query naming more ids than fit in SQL (a what-if over
-- 30,000 VMs) writes them here and reads `IN (SELECT id FROM id_sets WHERE set_id = …)`
-- instead of inlining them (ClickHouse parses at most 256 KiB of query text).
-- Scratch rows: partitions older than a day are dropped by cloudtally.store.idsets.
CREATE TABLE IF NOT EXISTS id_sets (
    set_id String,
    id String,
    created Date
) ENGINE = MergeTree
PARTITION BY created
ORDER BY (set_id, id);
