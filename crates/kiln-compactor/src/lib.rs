//! Kiln's compactor (design §3, §5): merges a tenant's blocks into
//! window-aligned higher levels, builds rollups, enforces retention and
//! deletes what nothing references.
//!
//! ```text
//!              ┌────────────────────────── Compactor::run_once ───────────────────────────┐
//!  metastore ─►│ retention: max_time < now - period ─► mark ─► metastore.delete           │
//!  (blocks)    │ plan: level L blocks in closed windows of level L+1 (10m, 2h, 1d)        │
//!              │   ─► merge: k-way over sources, symbols re-interned, one output per window│
//!              │        (streamed to object storage; rollup_1m/1h from level 2)           │
//!              │   ─► mark sources ─► metastore.replace(sources → outputs)  (atomic)      │
//!  object   ◄──│ gc: block folders nobody references, older than gc_grace ─► mark         │
//!  store       │ deletion: markers older than deletion_grace, block unregistered ─► DELETE│
//!              └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Parts: [`plan`] (pure planning), `merge` (streaming merge of one job),
//! `retention`, `gc`, `deletion` (durable markers under
//! `tenants/<tenant>/deletions/`), [`metrics`], [`failpoint`] (crash tests),
//! [`Compactor`] (the loop).
//!
//! Invariants (design §7.2: compaction never changes a query's answer):
//! - **Whole or nothing.** Outputs are committed blocks before the swap;
//!   `metastore.replace` swaps all sources for all outputs in one step, so a
//!   query sees the sources or the outputs, never both, never neither.
//! - **Nothing lost, nothing doubled.** An output holds exactly its sources'
//!   rows in its window; samples with equal (series, time, stack, span) are
//!   summed (as the block format requires), profile rows are copied.
//! - **Deletion is late and checked.** Objects of a block go only after it
//!   left the metastore *and* `deletion_grace` passed, verified against the
//!   metastore right before deleting.
//! - **Crash-safe at every step.** Every write is ordered so that stopping
//!   after it is safe; leftovers (unregistered outputs, markers of blocks
//!   still registered) are finished or collected by later runs.
//! - **Time is the injected clock's**: windows closing, retention cutoffs,
//!   grace periods and the ULIDs of written blocks.
//! - **Bounded memory**: a job streams one output window at a time with
//!   memory independent of its sample count, bounded by its fan-in
//!   (`max_sources_per_job`) and the row-group size (see `merge`).
//! - **Convergence**: a window split across jobs (fan-in) or fed late data
//!   gets several blocks, merged one level up; at the top level blocks of
//!   one window are folded together, so each window ends as one block.

mod compactor;
mod config;
mod deletion;
mod error;
pub mod failpoint;
mod gc;
mod merge;
pub mod metrics;
pub mod plan;
mod retention;

pub use compactor::{Compactor, RunReport, TENANT_LEASE_JOB};
pub use config::{CompactorConfig, RetentionPolicy};
pub use deletion::{DeletionMarker, DeletionReason, deletions_dir, marker_path};
pub use error::CompactorError;
pub use failpoint::{Failpoint, Failpoints};
