//! Kiln's read path.
//!
//! ```text
//!  request (validated by the API layer) ─► QueryEngine
//!    ─► metastore: blocks of (tenant, time range) whose summary can match
//!    ─► per block: SeriesIndex postings ─► series ids (selector + profile type)
//!    ─► DataFusion plan: samples scan (pushdown: series ids, time) ─► flamegraph(block, stack, value)
//!       aggregate (sums by stack id first, resolves frames last) ─► kiln_model::tree::Tree
//!    ─► SelectSeries: group-by over profiles (step buckets, group_by labels)
//! ```
//!
//! Invariants: a query reads only its tenant's blocks; results never depend
//! on how blocks are split (compaction-proof); CPU-heavy work runs off the
//! async I/O threads.

mod api;
mod blocks;
mod cache;
mod engine;
mod error;
mod flamegraph;
mod labels;
mod merge;
mod plan;
mod series;
mod table;

pub use api::{
    Aggregation, LabelsQuery, ProfileQuery, ProfileStats, QueryEngine, SeriesQuery,
};
pub use blocks::{BlockCacheStats, CacheConfig};
pub use cache::CacheStats;
pub use engine::{DataFusionEngine, EngineConfig};
pub use error::QueryError;
