//! The compactor's error type: one variant per cause, lowercase messages.

use crate::failpoint::Failpoint;

/// Why a compaction, retention or garbage-collection step failed.
///
/// None of them leaves the data inconsistent: every step is ordered so that
/// stopping after any of its writes (an error, a crash, a cancelled run) is
/// safe, and the next run finishes or redoes the work.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// The configuration is inconsistent (e.g. level windows that do not
    /// nest).
    #[error("invalid compactor config: {0}")]
    Config(String),

    /// Reading a source block or writing a merged one failed.
    #[error("block: {0}")]
    Block(#[from] kiln_block::BlockError),

    /// The metastore refused or failed an operation.
    #[error("metastore: {0}")]
    Meta(#[from] kiln_meta::MetaError),

    /// The object store failed (listing, markers, deleting objects).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// A deletion marker could not be encoded.
    #[error("deletion marker: {0}")]
    Marker(#[from] serde_json::Error),

    /// Source blocks disagree with the format or with each other (a series
    /// with two profile types, rows out of order, an id out of range).
    #[error("inconsistent source blocks: {0}")]
    Inconsistent(String),

    /// A failpoint armed by a test fired: the run stops here as if the
    /// process had been killed.
    #[error("failpoint {0:?} fired")]
    Failpoint(Failpoint),
}

impl CompactorError {
    pub(crate) fn inconsistent(msg: impl Into<String>) -> Self {
        Self::Inconsistent(msg.into())
    }
}
