//! Kiln's block format: a folder of plain Parquet files plus `meta.json`.
//!
//! ```text
//!  NormalizedProfile* ─► writer ─► tenants/<tenant>/blocks/<ULID>/
//!                                    samples.parquet  profiles.parquet  series.parquet
//!                                    stacks.parquet   frames.parquet    meta.json (last: commits the block)
//!  reader: meta.json ─► series.parquet ─► postings (roaring) ─► series ids
//!          ─► samples.parquet scan (row-group/page pruning on series_id, time) ─► stacks ─► frames
//! ```
//!
//! Invariants: a block without `meta.json` does not exist; series ids, stack
//! ids and frame ids are local to one block; samples are sorted by
//! (series_id, time_ns, stack_id). See `docs/storage-format.md`.

pub mod meta;
pub mod paths;

pub use meta::{BlockMeta, FileMeta, SeriesSummary, FORMAT_VERSION};
