//! The write path's error type, classified so one place in the server can
//! map it to Connect/gRPC/HTTP statuses.

use thiserror::Error;

/// Why a push was refused or failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// The request is malformed or violates a validation rule (400).
    #[error("{0}")]
    InvalidArgument(String),
    /// A per-tenant rate or size limit was hit (429).
    #[error("{0}")]
    ResourceExhausted(String),
    /// A single profile is larger than allowed (413 on `/ingest`).
    #[error("{0}")]
    TooLarge(String),
    /// Well-formed but not convertible, e.g. an unknown profile type (422 on `/ingest`).
    #[error("{0}")]
    Unprocessable(String),
    /// Storage is failing or the buffers stayed full; the client should retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500).
    #[error("{0}")]
    Internal(String),
}

impl From<kiln_model::ModelError> for IngestError {
    fn from(e: kiln_model::ModelError) -> Self {
        match e {
            kiln_model::ModelError::DecompressedTooLarge { .. } => Self::TooLarge(e.to_string()),
            kiln_model::ModelError::TooManySamples { .. } => Self::InvalidArgument(e.to_string()),
            _ => Self::InvalidArgument(e.to_string()),
        }
    }
}
