-- Import and verification jobs, so a job id answers after a restart. One row per state
-- change (queued, running, done | failed); the latest version is the job's state. A job
-- left queued/running by a process that is gone (`boot` differs) reads as interrupted.
CREATE TABLE IF NOT EXISTS jobs (
    job_id String,
    kind String,
    subject String,
    state String,
    rows UInt64,
    bytes_read UInt64,
    bytes_total UInt64,
    message String,
    errors String,
    result String,
    created_at Float64,
    finished_at Nullable(Float64),
    boot String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY job_id;
