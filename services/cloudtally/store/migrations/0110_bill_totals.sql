-- Bill totals per (month, bureau, system, VM, pool, provider): the read model behind
-- statements, budgets and the console's drill-down (cloudtally.billing.totals).
--
-- Each row is the exact sum of the current bill lines of its key in the month, so a
-- statement reads ~15,000 rows a month instead of ~1.6 M lines. The rating step
-- rewrites the rows of every (month, VM) it touched, from the current lines, in the
-- same step that moves bill_current; a key that no longer has lines gets a zero row
-- (lines = 0) under the new version, never a stale one. Read with FINAL and
-- lines > 0. The bureau is the one the bill lines carry (the owner over time), so a
-- VM that moved during a month has one row per owner.
CREATE TABLE IF NOT EXISTS bill_totals (
    month Date,
    bureau String,
    system String,
    vm_id String,
    pool String,
    provider String,
    lines UInt64,
    days UInt16,
    last_day Date,
    list_amount Decimal(18, 2),
    after_discount Decimal(18, 2),
    after_cut Decimal(18, 2),
    provisional_lines UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(month)
ORDER BY (month, bureau, system, vm_id, pool, provider);

-- The totals of what is already rated (a store migrated from before this table).
INSERT INTO bill_totals (month, bureau, system, vm_id, pool, provider, lines, days, last_day,
    list_amount, after_discount, after_cut, provisional_lines, version)
SELECT month, bureau, system, vm_id, pool, provider, count(), uniqExact(day), max(day),
    sum(list_amount), sum(after_discount), sum(after_cut), sum(month_provisional), toUInt64(1)
FROM bill_lines
WHERE (vm_id, day, run_id) IN (
    SELECT vm_id, day, argMax(run_id, version) FROM bill_current GROUP BY vm_id, day)
GROUP BY month, bureau, system, vm_id, pool, provider
