-- The scorecard's manual entries (cloudtally.scorecard.entries): points of indicators that
-- need documents, adjustments of measured ones, the budget figures and imported surveys.
-- Append-only: a changed entry is a new row; the latest per (fiscal year, provider, pool,
-- subject) by (entered_at, seq) is in force. Each row is also a ledger entry (who, when).
-- provider/pool '' means "every provider / every pool" (programme-wide documents).
CREATE TABLE IF NOT EXISTS scorecard_entries (
    fiscal_year UInt16,
    provider String,
    pool String,
    subject String,
    payload String,
    comment String,
    entered_by String,
    entered_at DateTime('UTC'),
    seq UInt64
) ENGINE = MergeTree
ORDER BY (fiscal_year, provider, pool, subject, entered_at, seq);
