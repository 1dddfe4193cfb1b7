-- Billing: rated bill lines per (VM, resource, local day, tariff version) and run,
-- a pointer log saying which run is current for each (VM, day), provider-level
-- month statement lines (volume tiers) and the record of every rating run.
--
-- Lines of every run are kept (ORDER BY ends with run_id), so a re-rate never
-- destroys the previous result; statements read the lines whose run is the
-- latest pointer for their (vm_id, day): argMax(run_id, version) over bill_current.

CREATE TABLE IF NOT EXISTS bill_lines (
    vm_id String,
    day Date,
    month Date,
    fiscal_year UInt16,
    bureau String,
    system String,
    pool String,
    provider String,
    resource String,
    tariff_version String,
    quantity Decimal(18, 7),
    unit String,
    unit_price Decimal(18, 6),
    price_divisor UInt16,
    list_amount Decimal(18, 2),
    after_discount Decimal(18, 2),
    after_cut Decimal(18, 2),
    adjustments String,
    utilization_basis Nullable(Float32),
    hours Decimal(12, 4),
    unmetered_hours UInt16,
    run_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (provider, pool, vm_id, day, resource, tariff_version, run_id);

-- Append-only pointer log: the current run of a (vm_id, day) is argMax(run_id, version).
-- A run that rates a (vm, day) to nothing still points at it, so stale lines drop out.
CREATE TABLE IF NOT EXISTS bill_current (
    vm_id String,
    day Date,
    run_id String,
    version UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (vm_id, day, version);

-- Provider-level month lines (volume tiers); provisional until the month is closed.
CREATE TABLE IF NOT EXISTS statement_lines (
    month Date,
    fiscal_year UInt16,
    provider String,
    kind String,
    status Enum8('provisional' = 1, 'final' = 2),
    tariff_version String,
    basis String,
    mode String,
    basis_value Decimal(18, 2),
    fee Decimal(18, 2),
    amount Decimal(18, 2),
    details String,
    run_id String,
    computed_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (month, provider, kind);

CREATE TABLE IF NOT EXISTS rating_runs (
    run_id String,
    kind Enum8('stream' = 1, 'rerate' = 2, 'whatif' = 3, 'close' = 4),
    period_from DateTime('UTC'),
    period_to DateTime('UTC'),
    tariff_versions Array(String),
    vm_scope UInt32,
    reason String,
    actor String,
    policy_name String,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    line_count UInt64,
    vm_days UInt64,
    unpriced UInt64,
    total Decimal(18, 2),
    previous_total Decimal(18, 2),
    version UInt64
) ENGINE = MergeTree
ORDER BY (started_at, run_id);
