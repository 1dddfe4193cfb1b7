-- Orphan samples and their adoption, kept off the ingest path (cloudtally.worker.adoption).
--
-- vm_sampled: every VM id that has raw samples (a superset: a VM whose samples a
-- retention drop removed stays listed). The sink writes a VM id here, in the flush
-- that stores its samples, the first time this process sees it, so the orphans
-- timer and the adoption step read ~one row per VM instead of scanning `samples`.
CREATE TABLE IF NOT EXISTS vm_sampled (
    vm_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY vm_id;

-- What the samples of a store migrated from before this table already hold.
INSERT INTO vm_sampled (vm_id, version)
SELECT vm_id, toUInt64(1) FROM samples GROUP BY vm_id;

-- vm_adoptions: a VM the inventory has announced whose sampled hours have been
-- queued for the rollup. The inventory is the durable record of a new VM; a VM in
-- vm_inventory and not here is still to adopt, so a worker that dies between the
-- inventory write and the adoption adopts it on the next rollup tick (idempotent:
-- the rollup recomputes hours, it does not add to them).
CREATE TABLE IF NOT EXISTS vm_adoptions (
    vm_id String,
    hours UInt32,
    adopted_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY vm_id;

-- Before this table the sink adopted a VM in the inventory flush itself: every VM
-- the inventory knows now has been adopted.
INSERT INTO vm_adoptions (vm_id, hours, adopted_at, version)
SELECT vm_id, toUInt32(0), now(), toUInt64(1) FROM vm_inventory GROUP BY vm_id
