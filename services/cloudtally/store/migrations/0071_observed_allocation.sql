-- Capacity a VM really has, as its collector saw it (node_exporter: CPUs and MemTotal
-- in the guest; libvirt: the domain's vCPUs and maximum memory), carried by the
-- collector's heartbeats. Compared with the ledger's allocation (core.rules.allocation).
CREATE TABLE IF NOT EXISTS observed_allocation (
    vm_id String,
    ts DateTime('UTC'),
    source String,
    vcpu Nullable(Float32),
    mem_gb Nullable(Float64),
    received_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (vm_id, ts, source);
