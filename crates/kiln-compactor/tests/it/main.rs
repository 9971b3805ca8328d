//! kiln-compactor integration tests: invariants under random interleavings,
//! crash recovery at every failpoint, retention, garbage collection, the
//! level structure and queries running concurrently with compaction.

mod common;
mod concurrent;
mod crash;
mod gc;
mod invariants;
mod levels;
mod retention;
