-- Quarterly rightsizing rounds (cloudtally.rounds): the buyer opens a round, each bureau
-- accepts or declines each candidate with a reason, the buyer exports the accepted list as
-- the providers' work order, and the next round checks what changed and what was saved.
--
-- rightsizing_rounds: one row per state change of a round (open → closed); the row with
-- the highest version is the round's current state.
CREATE TABLE IF NOT EXISTS rightsizing_rounds (
    round_id String,
    quarter String,
    review_from Date,
    review_to Date,
    status Enum8('open' = 1, 'closed' = 2),
    opened_by String,
    opened_at DateTime('UTC'),
    closed_by String,
    closed_at Nullable(DateTime('UTC')),
    previous_round String,
    tariff_version String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY round_id;

-- The candidates of a round as found when it was opened (a snapshot: later data does
-- not change what the bureaus were asked), with the VM's size and its average daily
-- bill over the review window, the baseline the next round measures savings against.
CREATE TABLE IF NOT EXISTS rightsizing_round_items (
    round_id String,
    kind String,
    vm_id String,
    bureau String,
    system String,
    pool String,
    provider String,
    vcpu UInt16,
    mem_gb Decimal(12, 3),
    target_vcpu UInt16,
    target_mem_gb Decimal(12, 3),
    freed_vcpu Int32,
    freed_mem_gb Decimal(12, 3),
    savings_year Nullable(Decimal(18, 2)),
    daily_cost_before Decimal(18, 2),
    evidence String
) ENGINE = ReplacingMergeTree
ORDER BY (round_id, kind, vm_id);

-- Every decision as made (append-only: a changed mind is a new row); the latest per
-- item (greatest decided_at, then seq) is the one in force.
CREATE TABLE IF NOT EXISTS rightsizing_decisions (
    round_id String,
    kind String,
    vm_id String,
    bureau String,
    decision Enum8('accepted' = 1, 'declined' = 2),
    reason String,
    decided_by String,
    decided_at DateTime('UTC'),
    seq UInt64
) ENGINE = MergeTree
ORDER BY (round_id, kind, vm_id, decided_at, seq);
