//! The one error type of the metastore.

use ulid::Ulid;

/// Result of a metastore operation.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// Why a metastore operation failed.
///
/// Validation errors ([`MetaError::NotFound`], [`MetaError::Conflict`],
/// [`MetaError::InvalidBlock`]) are raised before anything is written: the
/// metastore is unchanged. After an I/O error ([`MetaError::ObjectStore`]) the
/// operation may or may not have been committed, as with any database whose
/// answer is lost; read the state back to find out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// A block named by the caller (a source of `replace`) is not registered
    /// for this tenant.
    #[error("block {id} not found for tenant {tenant:?}")]
    NotFound { tenant: String, id: Ulid },

    /// A block with this id is already registered for this tenant with
    /// different content, or a replacement would overwrite a block that is
    /// not one of the sources.
    #[error("block {id} of tenant {tenant:?} already exists with different content")]
    Conflict { tenant: String, id: Ulid },

    /// The block metadata breaks an invariant (empty tenant, `min_time_ns >
    /// max_time_ns`, a replacement for another tenant, duplicate ids).
    #[error("invalid block {id}: {reason}")]
    InvalidBlock { id: Ulid, reason: String },

    /// Other writers kept committing the sequence number this operation
    /// needed (embedded metastore shared by several processes).
    #[error("gave up committing after {attempts} attempts: another writer keeps committing first")]
    CommitConflict { attempts: u32 },

    /// The object store failed.
    #[error("object store: {source}")]
    ObjectStore {
        #[from]
        source: object_store::Error,
    },

    /// A log entry that is not the last one cannot be decoded, or a committed
    /// operation no longer applies to the state it was committed on.
    #[error("corrupt metastore log entry {path}: {reason}")]
    CorruptLog { path: String, reason: String },

    /// The newest snapshot cannot be decoded.
    #[error("corrupt metastore snapshot {path}: {reason}")]
    CorruptSnapshot { path: String, reason: String },

    /// The log or snapshot was written by a newer Kiln that this one does not
    /// understand; refusing to guess.
    #[error(
        "metastore object {path} has format version {found}, this build reads up to {supported}"
    )]
    UnsupportedFormat {
        path: String,
        found: u32,
        supported: u32,
    },

    /// The log kept changing under a loading metastore (another process
    /// snapshotting and truncating it faster than it could be read).
    #[error("metastore log kept changing while loading; gave up after {attempts} attempts")]
    Unstable { attempts: u32 },

    /// The database behind the metastore (PostgreSQL) could not be reached or
    /// failed; `context` says what was being done. As with
    /// [`MetaError::ObjectStore`], a write may or may not have committed.
    #[error("metastore database: {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The database's metastore schema was migrated by a newer Kiln than
    /// this one; refusing to guess what changed.
    #[error(
        "metastore database schema is at version {found}, this build knows up to {supported}; upgrade Kiln"
    )]
    UnsupportedSchema { found: i32, supported: i32 },

    /// Encoding a log entry or snapshot failed.
    #[error("encoding metastore object: {source}")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
}
