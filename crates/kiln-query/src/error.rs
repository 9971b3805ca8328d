//! The read path's error type.

use thiserror::Error;

/// Why a query failed. The API layer maps `InvalidArgument` to
/// `invalid_argument` and the rest to `internal`/`unavailable`.
#[derive(Debug, Error)]
pub enum QueryError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("reading block failed: {0}")]
    Block(#[from] kiln_block::BlockError),
    #[error("metastore failed: {0}")]
    Meta(#[from] kiln_meta::MetaError),
    #[error("query execution failed: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Internal(String),
}
