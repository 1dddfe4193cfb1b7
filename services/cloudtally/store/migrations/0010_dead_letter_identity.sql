-- Dead-letter identity that survives a broker restart and keeps every reject apart:
-- (topic, partition, offset) alone is reused when a memory-storage broker restarts at
-- offset 0, and (.., row_index) without the section let a samples reject and a disks
-- reject of the same row index in one message collapse. The key now carries the SHA-256
-- of the whole message and the section. No PARTITION BY: a redelivery months later
-- still collapses onto the same row. Sizes and the hash are kept for every reject.
RENAME TABLE dead_letters TO dead_letters_0001;

CREATE TABLE dead_letters (
    received_at DateTime('UTC'),
    topic String,
    partition UInt32,
    offset UInt64,
    message_sha256 String,
    message_bytes UInt64,
    row_index Int32,
    section String,
    reason String,
    payload String,
    payload_encoding String,
    payload_bytes UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset, message_sha256, section, row_index);

INSERT INTO dead_letters
SELECT received_at, topic, partition, offset, '' AS message_sha256,
       toUInt64(0) AS message_bytes, row_index, section, reason, payload, payload_encoding,
       toUInt64(length(payload)) AS payload_bytes
FROM dead_letters_0001;

DROP TABLE dead_letters_0001;
