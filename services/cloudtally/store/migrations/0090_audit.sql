-- Audit: the hash-chained ledger, the policy documents it names, and the issued
-- (closed) months with their restatements (红冲).
--
-- audit_ledger is append-only: one row per act that fixed money or policy, in seq order.
-- content_hash is the SHA-256 of the canonical rows the act fixed (cloudtally.core.hashchain);
-- entry_hash chains each entry to the one before it. `cloudtally audit verify` recomputes
-- both from the store.
CREATE TABLE IF NOT EXISTS audit_ledger (
    seq UInt64,
    entry_id String,
    kind String,
    subject String,
    content_hash String,
    row_count UInt64,
    actor String,
    reason String,
    at DateTime('UTC'),
    prev_hash String,
    entry_hash String
) ENGINE = MergeTree
ORDER BY (seq, entry_id);

-- Every policy file the pipeline activated, verbatim, keyed by the SHA-256 of its bytes.
CREATE TABLE IF NOT EXISTS policy_documents (
    sha256 String,
    name String,
    content String,
    activated_at DateTime('UTC')
) ENGINE = MergeTree
ORDER BY (sha256, activated_at);

-- What a month's statement was when it was issued: revision 0 at the first close, one
-- more per restatement. Each revision points at the bill lines (vm_id, day, run_id) it
-- consists of; bill lines of every run are kept, so an issued revision stays readable
-- whatever is re-rated later.
CREATE TABLE IF NOT EXISTS issued_lines (
    month Date,
    revision UInt32,
    vm_id String,
    day Date,
    run_id String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (month, revision, vm_id, day);

-- The provider-level month lines (volume tiers) of each issued revision, copied at issue.
CREATE TABLE IF NOT EXISTS issued_statement_lines (
    month Date,
    revision UInt32,
    provider String,
    kind String,
    tariff_version String,
    basis String,
    mode String,
    basis_value Decimal(18, 2),
    fee Decimal(18, 2),
    amount Decimal(18, 2),
    details String,
    run_id String
) ENGINE = MergeTree
ORDER BY (month, revision, provider, kind);

-- One row per issued revision: who issued it, why, and what caused a restatement.
CREATE TABLE IF NOT EXISTS issued_months (
    month Date,
    revision UInt32,
    kind Enum8('close' = 1, 'restatement' = 2),
    reason String,
    reference String,
    actor String,
    at DateTime('UTC'),
    lines_total Decimal(18, 2),
    adjustments_total Decimal(18, 2),
    total Decimal(18, 2)
) ENGINE = MergeTree
ORDER BY (month, revision);

-- A restatement's correction lines: the reversal (negated) of each line that changed or
-- disappeared since the previous revision, and the replacement of each line that changed
-- or appeared. Original + Σ corrections = net, to the fen.
CREATE TABLE IF NOT EXISTS restatement_lines (
    month Date,
    revision UInt32,
    entry Enum8('reversal' = 1, 'replacement' = 2),
    vm_id String,
    day Date,
    bureau String,
    system String,
    pool String,
    provider String,
    resource String,
    tariff_version String,
    quantity Decimal(18, 7),
    list_amount Decimal(18, 2),
    after_discount Decimal(18, 2),
    after_cut Decimal(18, 2),
    run_id String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (month, revision, vm_id, day, resource, entry);

-- Per entry, the digest of each part (and of each bureau's lines): lets `audit verify`
-- say which part or bureau changed. A diagnostic aid; the chained content_hash decides.
CREATE TABLE IF NOT EXISTS audit_ledger_parts (
    seq UInt64,
    entry_id String,
    part String,
    key String,
    rows UInt64,
    sha256 String
) ENGINE = MergeTree
ORDER BY (seq, part, key);
