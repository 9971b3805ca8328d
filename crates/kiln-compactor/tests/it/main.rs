//! kiln-compactor integration tests: invariants under random interleavings,
//! crash recovery at every failpoint, retention, garbage collection, the
//! level structure, queries running concurrently with compaction, and the
//! metrics.

mod common;
mod concurrent;
mod crash;
mod gc;
mod invariants;
mod levels;
mod observability;
mod retention;
