-- Provider invoices and their verification.
--
-- An import writes its lines under a fresh import_id, then the invoices row
-- last: readers only see lines whose (invoice_id, import_id) is the header's,
-- so a failed or half-written import is invisible (and its lines are deleted).
-- file_hash recognises the same file uploaded twice.
-- A verification run writes its findings and totals first and its
-- verification_runs row with status 'done' last; readers use the latest done
-- run of an invoice. Findings and totals carry bureau for scoping.

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id String,
    import_id String,
    provider String,
    provider_invoice_no String,
    source_format String,
    file_name String,
    file_hash String,
    file_bytes UInt64,
    billing_period_start DateTime('UTC'),
    billing_period_end DateTime('UTC'),
    currency String,
    imported_at DateTime('UTC'),
    imported_by String,
    row_count UInt32,
    billed_total Decimal(18, 2),
    status Enum8('imported' = 1, 'verified' = 2, 'withdrawn' = 3),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY invoice_id;

CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id String,
    import_id String,
    line_no UInt32,
    resource_id String,
    resource_key String,
    resource_name String,
    resource_type_raw String,
    resource_type String,
    charge_category String,
    charge_class String,
    period_start DateTime('UTC'),
    period_end DateTime('UTC'),
    quantity Decimal(20, 6),
    unit String,
    unit_price Nullable(Decimal(20, 8)),
    list_amount Nullable(Decimal(18, 2)),
    discount_rate Nullable(Decimal(10, 6)),
    contracted_unit_price Nullable(Decimal(20, 8)),
    contracted_amount Nullable(Decimal(18, 2)),
    amount Decimal(18, 2),
    currency String,
    pool String,
    region String,
    sku String,
    description String
) ENGINE = MergeTree
ORDER BY (invoice_id, import_id, line_no);

CREATE TABLE IF NOT EXISTS verification_runs (
    run_id String,
    invoice_id String,
    provider String,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    status Enum8('running' = 1, 'done' = 2, 'failed' = 3),
    settings String,
    tariff_versions Array(String),
    lines UInt32,
    matched_lines UInt32,
    expected_charges UInt32,
    findings UInt32,
    billed_total Decimal(18, 2),
    verified_total Decimal(18, 2),
    over_total Decimal(18, 2),
    under_total Decimal(18, 2),
    message String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (invoice_id, run_id);

CREATE TABLE IF NOT EXISTS verification_findings (
    run_id String,
    invoice_id String,
    seq UInt32,
    kind String,
    rule_id String,
    severity String,
    amount_at_stake Decimal(18, 2),
    line_numbers Array(UInt32),
    resource_id String,
    resource_type String,
    period_start DateTime('UTC'),
    period_end DateTime('UTC'),
    bureau String,
    pool String,
    provider String,
    evidence String,
    message String
) ENGINE = MergeTree
ORDER BY (invoice_id, run_id, seq);

CREATE TABLE IF NOT EXISTS verification_totals (
    run_id String,
    invoice_id String,
    provider String,
    pool String,
    bureau String,
    lines UInt32,
    findings UInt32,
    billed Decimal(18, 2),
    expected Decimal(18, 2),
    over Decimal(18, 2),
    under Decimal(18, 2)
) ENGINE = MergeTree
ORDER BY (invoice_id, run_id, provider, pool, bureau);
