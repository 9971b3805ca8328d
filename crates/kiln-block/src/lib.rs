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
//! Parts: [`writer`] (`BlockEncoder::encode` is sync and CPU-bound,
//! `EncodedBlock::upload` async), [`reader`] (`BlockReader` with
//! `SeriesIndex`, pruned sample scans, `aggregate_by_stack`, `StackResolver`),
//! [`meta`], [`paths`], [`schema`].
//!
//! Invariants: a block without `meta.json` does not exist; series ids, stack
//! ids and frame ids are local to one block; series ids follow label-set
//! order; samples are sorted by (series_id, time_ns, stack_id, span_id) and
//! unique on that key; stack id 0 is the root (the empty stack) and every
//! stack's parent id is smaller than its own id. See `docs/storage-format.md`.

pub mod error;
pub mod meta;
pub mod paths;
pub mod reader;
pub mod rollup;
pub mod schema;
pub mod writer;

pub use error::BlockError;
pub use meta::{BlockMeta, FORMAT_VERSION, FileMeta, SeriesSummary};
pub use reader::{
    BlockReader, IoStats, ProfileRecord, SampleScan, ScanStats, SeriesEntry, SeriesIndex,
    StackResolver, StackTotals,
};
pub use rollup::RollupBucket;
pub use writer::{
    BlockEncoder, EncodedBlock, EncodedFile, SampleRow, StackIdEncoding, StackNode,
    StackTableBuilder, StackTables, StreamingBlockWriter, WriterConfig, write_block,
};
