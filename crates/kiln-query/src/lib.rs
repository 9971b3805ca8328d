//! Kiln's read path.
//!
//! ```text
//!  request (validated by the API layer) ─► QueryEngine (DataFusionEngine, on its own runtime)
//!    ─► plan: metastore blocks of (tenant, range) whose summary can match
//!             ─► per block: SeriesIndex postings ─► series ids (selector ∧ profile type)
//!                [profile ids ─► (series, time); call site ─► allowed stack ids]
//!    ─► DataFusion: BlockTable(samples|profiles) ─► BlockScanExec, one partition per block group
//!                   (kiln-block pushdown of series ids + time range to row groups and pages;
//!                    samples come from rollup_1h/rollup_1m for whole buckets in range,
//!                    raw samples.parquet at cut edges: plan/source.rs)
//!       merge_tree:    flamegraph(block, stack_id, value) aggregate: sums by stack id,
//!                      resolves each stack node once, state = mergeable Tree bytes
//!       select_series: profiles ⋈ groups(block, series_id, group_id)
//!                      GROUP BY (group_id, step bucket) SUM/COUNT
//!    ─► labels / profile types / stats: block meta summaries, else cached SeriesIndex
//! ```
//!
//! Parts: `engine` (the [`DataFusionEngine`], its config and runtime),
//! `plan` (metastore + postings), `table` (TableProvider and ExecutionPlan),
//! `flamegraph` (the aggregate UDF), `merge`, `series`, `labels`, and the
//! per-(tenant, block) LRU caches in `blocks`/`cache`.
//! `docs/query.md` states the query semantics in prose.
//!
//! Invariants: a query reads only its tenant's blocks (listings and every
//! cache key are per tenant); results never depend on how blocks are split
//! (compaction-proof: ids are block-local and resolved inside the block's
//! accumulator); time ranges are inclusive milliseconds; CPU-heavy work
//! (Parquet decoding, aggregation, stack resolution) runs on the engine's
//! runtime, never on the caller's I/O threads.

mod api;
mod blocks;
mod cache;
mod codec;
pub mod distributed;
mod engine;
mod error;
mod flamegraph;
mod labels;
mod merge;
mod plan;
mod series;
mod table;

pub use api::{Aggregation, LabelsQuery, ProfileQuery, ProfileStats, QueryEngine, SeriesQuery};
pub use blocks::{BlockCache, BlockCacheStats, CacheConfig};
pub use cache::CacheStats;
pub use codec::KilnPlanCodec;
pub use engine::{AbortOnDrop, DataFusionEngine, EngineConfig, PhysicalQueryPlan, QueryRuntime};
pub use error::QueryError;
pub use table::{
    TABLE_ROWS_TOTAL, TABLE_SCANS_TOTAL, TableReads, TableScanStats, describe_metrics,
};
