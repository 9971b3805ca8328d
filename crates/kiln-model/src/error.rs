//! The model's one error type: every parser and encoder fails with one of these.

use thiserror::Error;

/// Why decoding, normalising, parsing or encoding failed. Messages are
/// lowercase and name the offending value so they can be shown to clients.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    // --- decoding -----------------------------------------------------------
    #[error("invalid gzip data: {0}")]
    Gzip(String),
    #[error("decompressed profile exceeds the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("invalid pprof protobuf: {0}")]
    Protobuf(String),

    // --- validation and normalisation --------------------------------------
    #[error("empty profile: no sample types")]
    EmptyProfile,
    #[error("invalid profile: {0}")]
    InvalidProfile(String),
    #[error("string table index {index} out of range (table has {len} entries)")]
    StringIndexOutOfRange { index: i64, len: usize },
    #[error("unknown location id {0}")]
    UnknownLocation(u64),
    #[error("unknown function id {0}")]
    UnknownFunction(u64),
    #[error("sample has {got} values but the profile has {want} sample types")]
    SampleValueCount { got: usize, want: usize },
    #[error("profile has {got} samples, more than the limit of {limit}")]
    TooManySamples { got: usize, limit: usize },
    #[error("sample has {got} labels, more than the limit of {limit}")]
    TooManySampleLabels { got: usize, limit: usize },
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    #[error("invalid profile type id {0:?}: want <name>:<type>:<unit>:<period_type>:<period_unit>")]
    InvalidProfileType(String),

    // --- text formats -------------------------------------------------------
    #[error("invalid {format} line {line}: {reason}")]
    InvalidText {
        format: &'static str,
        line: usize,
        reason: String,
    },
    /// A legacy `/ingest` app name whose `.suffix` names no known profile type.
    #[error("unknown profile type {0:?}")]
    UnknownProfileType(String),

    // --- selectors ----------------------------------------------------------
    #[error("invalid label selector {selector:?}: {reason}")]
    InvalidSelector { selector: String, reason: String },

    // --- trees and encodings ------------------------------------------------
    #[error("invalid tree: {0}")]
    InvalidTree(String),
    /// Diffs need non-negative values (spec §2.3); `side` is `left` or `right`.
    #[error("{side} tree has negative value {value} at function {function:?}")]
    NegativeValue {
        side: &'static str,
        function: String,
        value: i64,
    },
}
