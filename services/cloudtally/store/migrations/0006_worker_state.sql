-- Progress markers of the worker's derivation steps (watermarks only move forward:
-- the greatest value per name is the current one).
CREATE TABLE IF NOT EXISTS worker_state (
    name String,
    value UInt64,
    updated_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(value)
ORDER BY name;
