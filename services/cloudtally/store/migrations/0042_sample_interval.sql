-- The sample interval the collector declared on each batch (wire field
-- `interval_s`, Arrow metadata `interval_s`); 0 = not declared. Rollups expect
-- 3600 / interval samples per VM-hour, so a 300 s collector is fully covered at
-- 12 an hour; undeclared hours fall back to the policy's expected_sample_interval_s.
ALTER TABLE samples ADD COLUMN interval_s UInt32 DEFAULT 0
