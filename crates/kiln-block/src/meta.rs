//! `meta.json`: the block's identity, time range, files and series summary.
//! Written last; its presence commits the block.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ulid::Ulid;

/// Version of the block layout described in `docs/storage-format.md`.
/// Bump it on any incompatible change and keep a fixture of the old one.
pub const FORMAT_VERSION: u32 = 1;

/// Everything the metastore and the planner need to know about a block
/// without opening its Parquet files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub format_version: u32,
    pub id: Ulid,
    pub tenant: String,
    /// 0 = one ingester flush; higher levels come from compaction.
    pub level: u32,
    /// Earliest profile time in the block, nanoseconds since the epoch (inclusive).
    pub min_time_ns: i64,
    /// Latest profile time in the block, nanoseconds since the epoch (inclusive).
    pub max_time_ns: i64,
    /// Blocks this one was compacted from (empty at level 0).
    pub sources: Vec<Ulid>,
    /// One entry per data file, in a fixed order.
    pub files: Vec<FileMeta>,
    pub summary: SeriesSummary,
}

/// Size of one file of the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// File name relative to the block folder, e.g. `samples.parquet`.
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// Bytes at the end of the file holding the page index and the footer, so a
    /// reader can fetch all Parquet metadata in one ranged request (0 = unknown).
    #[serde(default)]
    pub footer_bytes: u64,
}

/// A summary of the block's series, enough for label APIs and planning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesSummary {
    pub series: u64,
    pub profiles: u64,
    pub samples: u64,
    /// Distinct `service_name` values, sorted.
    pub services: Vec<String>,
    /// Distinct `__profile_type__` values, sorted.
    pub profile_types: Vec<String>,
    /// Label name → number of distinct values in this block.
    pub label_names: BTreeMap<String, u64>,
}

impl BlockMeta {
    /// True when the block's time range intersects `[start_ns, end_ns]` (both inclusive).
    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.min_time_ns <= end_ns && self.max_time_ns >= start_ns
    }

    /// The entry of data file `name` (see [`crate::paths::files`]).
    pub fn file(&self, name: &str) -> Option<&FileMeta> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Total bytes of the block's data files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}
