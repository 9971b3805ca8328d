//! The crate's error type: one variant per cause, lowercase messages.

use ulid::Ulid;

/// Everything that can go wrong writing or reading a block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The object store failed (network, permissions, a missing data file).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// A Parquet file could not be encoded or decoded.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// An Arrow array could not be built or converted.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// `meta.json` could not be encoded or decoded.
    #[error("meta.json: {0}")]
    Json(#[from] serde_json::Error),

    /// The block has no `meta.json`: it was never committed (or was deleted).
    #[error("block {tenant}/{id} not found")]
    NotFound { tenant: String, id: Ulid },

    /// A block needs at least one profile.
    #[error("cannot write an empty block")]
    Empty,

    /// The input violates an invariant of `NormalizedProfile`.
    #[error("invalid profile: {0}")]
    InvalidProfile(String),

    /// Rows handed to a streaming writer break the format (out of order,
    /// an id out of range).
    #[error("invalid row: {0}")]
    InvalidRow(String),

    /// A rollup scan over a range that the rollup cannot answer exactly, or
    /// of a block without that rollup.
    #[error("rollup {bucket} of block {id} cannot answer [{start_ns}, {end_ns}] exactly")]
    RollupUnavailable {
        id: Ulid,
        bucket: crate::rollup::RollupBucket,
        start_ns: i64,
        end_ns: i64,
    },

    /// The block was written by a newer, incompatible version of Kiln.
    #[error("unsupported block format version {found} (this build reads up to {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },

    /// The block's files disagree with the format (an id out of range, a wrong column type…).
    #[error("corrupt block: {0}")]
    Corrupt(String),
}

impl BlockError {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Self::Corrupt(msg.into())
    }
}
