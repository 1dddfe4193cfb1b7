-- Collector heartbeats: one row per (source, samples partition, beat). A collector sends
-- a beat on every partition after the samples of a window, so a stored beat proves
-- every sample it covers (ts <= data_until) on that partition is stored before it
-- (per-partition order, ack after flush). A source's watermark is the least, over
-- partitions, of the greatest data_until; a gap in a VM's samples inside a covered
-- span is the VM's, a span without beats is the collector's (principle 11).
CREATE TABLE IF NOT EXISTS collector_heartbeats (
    source String,
    partition UInt32,
    sent_at DateTime('UTC'),
    data_from DateTime('UTC'),
    data_until DateTime('UTC'),
    samples UInt64,
    vms UInt32,
    unknown_series UInt32,
    errors UInt32,
    received_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (source, partition, sent_at, data_until);
