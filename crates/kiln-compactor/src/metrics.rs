//! Metric names (`kiln_compactor_<what>_<unit>`) and the helpers that record
//! them through the `metrics` facade; the server installs the recorder.

use crate::deletion::DeletionReason;

/// Compaction jobs that committed their swap, by source `level`.
pub const JOBS_RUN_TOTAL: &str = "kiln_compactor_jobs_run_total";
/// Compaction jobs that failed (retried on a later run), by source `level`.
pub const JOBS_FAILED_TOTAL: &str = "kiln_compactor_jobs_failed_total";
/// Duration of compaction jobs, by source `level`.
pub const JOB_DURATION_SECONDS: &str = "kiln_compactor_job_duration_seconds";
/// Bytes of source blocks merged, by source `level`.
pub const BYTES_READ_TOTAL: &str = "kiln_compactor_bytes_read_total";
/// Bytes of blocks written by compaction, by source `level`.
pub const BYTES_WRITTEN_TOTAL: &str = "kiln_compactor_bytes_written_total";
/// Sample rows written by compaction, by source `level`.
pub const SAMPLES_WRITTEN_TOTAL: &str = "kiln_compactor_samples_written_total";
/// Seconds since the oldest compaction job still pending became eligible,
/// by `tenant`; 0 when the compactor keeps up.
pub const LAG_SECONDS: &str = "kiln_compactor_lag_seconds";
/// Registered blocks, by `tenant` and `level`.
pub const BLOCKS: &str = "kiln_compactor_blocks";
/// Blocks removed from the metastore by retention, by `tenant`.
pub const BLOCKS_EXPIRED_TOTAL: &str = "kiln_compactor_blocks_expired_total";
/// Unreferenced block folders marked for deletion.
pub const ORPHANS_MARKED_TOTAL: &str = "kiln_compactor_orphans_marked_total";
/// Objects deleted from the store, by `reason` (compacted, retention, orphan).
pub const OBJECTS_DELETED_TOTAL: &str = "kiln_compactor_objects_deleted_total";
/// Runs of the compactor loop that failed before finishing.
pub const RUNS_FAILED_TOTAL: &str = "kiln_compactor_runs_failed_total";

/// Registers descriptions with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        JOBS_RUN_TOTAL,
        "Compaction jobs committed, by source level."
    );
    describe_counter!(
        JOBS_FAILED_TOTAL,
        "Compaction jobs failed, by source level."
    );
    describe_histogram!(
        JOB_DURATION_SECONDS,
        Unit::Seconds,
        "Compaction job duration, by source level."
    );
    describe_counter!(
        BYTES_READ_TOTAL,
        Unit::Bytes,
        "Source block bytes merged, by source level."
    );
    describe_counter!(
        BYTES_WRITTEN_TOTAL,
        Unit::Bytes,
        "Compacted block bytes written, by source level."
    );
    describe_counter!(
        SAMPLES_WRITTEN_TOTAL,
        "Sample rows written by compaction, by source level."
    );
    describe_gauge!(
        LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest pending compaction job, by tenant."
    );
    describe_gauge!(BLOCKS, "Registered blocks, by tenant and level.");
    describe_counter!(
        BLOCKS_EXPIRED_TOTAL,
        "Blocks removed by retention, by tenant."
    );
    describe_counter!(
        ORPHANS_MARKED_TOTAL,
        "Unreferenced block folders marked for deletion."
    );
    describe_counter!(OBJECTS_DELETED_TOTAL, "Objects deleted, by reason.");
    describe_counter!(
        RUNS_FAILED_TOTAL,
        "Compactor runs that failed before finishing."
    );
}

pub(crate) fn job(level: u32, ok: bool, seconds: f64, bytes_in: u64, bytes_out: u64, samples: u64) {
    let level = level.to_string();
    if ok {
        metrics::counter!(JOBS_RUN_TOTAL, "level" => level.clone()).increment(1);
        metrics::counter!(BYTES_READ_TOTAL, "level" => level.clone()).increment(bytes_in);
        metrics::counter!(BYTES_WRITTEN_TOTAL, "level" => level.clone()).increment(bytes_out);
        metrics::counter!(SAMPLES_WRITTEN_TOTAL, "level" => level.clone()).increment(samples);
    } else {
        metrics::counter!(JOBS_FAILED_TOTAL, "level" => level.clone()).increment(1);
    }
    metrics::histogram!(JOB_DURATION_SECONDS, "level" => level).record(seconds);
}

pub(crate) fn tenant_state(tenant: &str, lag_seconds: f64, blocks_per_level: &[(u32, usize)]) {
    metrics::gauge!(LAG_SECONDS, "tenant" => tenant.to_string()).set(lag_seconds);
    for &(level, n) in blocks_per_level {
        metrics::gauge!(BLOCKS, "tenant" => tenant.to_string(), "level" => level.to_string())
            .set(n as f64);
    }
}

pub(crate) fn expired(tenant: &str, blocks: usize) {
    metrics::counter!(BLOCKS_EXPIRED_TOTAL, "tenant" => tenant.to_string())
        .increment(blocks as u64);
}

pub(crate) fn orphans(blocks: usize) {
    metrics::counter!(ORPHANS_MARKED_TOTAL).increment(blocks as u64);
}

pub(crate) fn objects_deleted(reason: DeletionReason, objects: u64) {
    metrics::counter!(OBJECTS_DELETED_TOTAL, "reason" => reason.as_str()).increment(objects);
}

pub(crate) fn run_failed() {
    metrics::counter!(RUNS_FAILED_TOTAL).increment(1);
}
