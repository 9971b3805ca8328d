//! kiln-compactor integration tests: invariants under random interleavings,
//! crash recovery at every failpoint, retention, garbage collection, the
//! level structure, tenant leases between compactors, queries running
//! concurrently with compaction, and the metrics.

mod common;
mod concurrent;
mod crash;
mod gc;
mod invariants;
mod leases;
mod levels;
mod observability;
mod retention;
