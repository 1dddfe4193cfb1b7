-- Utilization rollups: deterministic recomputations of raw samples + inventory.
-- All are ReplacingMergeTree(version) keyed by (entity, period): recomputing a
-- key writes the same measures with a higher version. Read with FINAL.
-- Written by cloudtally.analytics.rollups; definitions are documented there.

-- Weight of every UTC hour under the business-hours calendar (filled from
-- Python: ClickHouse does not know Chinese holidays and make-up working days).
CREATE TABLE IF NOT EXISTS hour_weights (
    hour DateTime('UTC'),
    weight Float32,
    business_fraction Float32,
    policy_version String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY hour;

-- One row per VM-hour the VM existed (inventory lifecycle), with or without
-- samples. A gap is NULL measures with samples = 0, never zero utilization.
CREATE TABLE IF NOT EXISTS usage_hourly (
    vm_id String,
    hour DateTime('UTC'),
    bureau String,
    system String,
    pool String,
    provider String,
    vcpu UInt16,
    mem_gb Decimal(12, 3),
    storage_gb_performance Decimal(14, 3),
    storage_gb_standard Decimal(14, 3),
    storage_gb_archive Decimal(14, 3),
    alloc_fraction Float32,
    storage_used_gb Nullable(Float64),
    disks_sampled UInt16,
    samples UInt16,
    expected_samples UInt16,
    coverage Float32,
    cpu_avg Nullable(Float32),
    cpu_max Nullable(Float32),
    cpu_p95 Nullable(Float32),
    mem_avg Nullable(Float32),
    mem_max Nullable(Float32),
    mem_p95 Nullable(Float32),
    business_weight Float32,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (vm_id, hour);

-- One row per VM and local (policy timezone) day, recomputed from usage_hourly.
-- *_num / *_den are the exact sums behind the capacity-weighted utilizations,
-- so any period and any group (system, bureau, pool, provider) re-aggregates
-- exactly: utilization = sum(num) / sum(den).
CREATE TABLE IF NOT EXISTS usage_daily (
    vm_id String,
    day Date,
    bureau String,
    system String,
    pool String,
    provider String,
    vcpu UInt16,
    mem_gb Decimal(12, 3),
    storage_gb_performance Decimal(14, 3),
    storage_gb_standard Decimal(14, 3),
    storage_gb_archive Decimal(14, 3),
    hours UInt8,
    alloc_hours Float64,
    vcpu_hours Float64,
    mem_gb_hours Float64,
    storage_gb_hours_performance Float64,
    storage_gb_hours_standard Float64,
    storage_gb_hours_archive Float64,
    business_hours Float64,
    night_hours Float64,
    samples UInt32,
    expected_samples UInt32,
    coverage Float32,
    day_coverage Nullable(Float32),
    cpu_avg Nullable(Float32),
    cpu_max Nullable(Float32),
    cpu_p95 Nullable(Float32),
    mem_avg Nullable(Float32),
    mem_max Nullable(Float32),
    mem_p95 Nullable(Float32),
    cpu_day Nullable(Float32),
    cpu_night Nullable(Float32),
    mem_day Nullable(Float32),
    mem_night Nullable(Float32),
    cpu_num_all Float64,
    cpu_den_all Float64,
    cpu_num_day Float64,
    cpu_den_day Float64,
    cpu_num_night Float64,
    cpu_den_night Float64,
    mem_num_all Float64,
    mem_den_all Float64,
    mem_num_day Float64,
    mem_den_day Float64,
    mem_num_night Float64,
    mem_den_night Float64,
    storage_used_gb_avg Nullable(Float64),
    storage_num Float64,
    storage_den Float64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (vm_id, day);

-- One row per VM disk and local day with at least one disk sample, for the
-- storage-idle rule. used_pct = 100 * used_gb_max / size_gb (NULL if the disk
-- is not in the VM's inventory that day).
CREATE TABLE IF NOT EXISTS disk_usage_daily (
    vm_id String,
    disk_id String,
    day Date,
    tier String,
    size_gb Decimal(14, 3),
    samples UInt32,
    used_gb_avg Float64,
    used_gb_max Float64,
    used_pct Nullable(Float32),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (vm_id, disk_id, day);
