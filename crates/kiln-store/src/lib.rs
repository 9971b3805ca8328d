//! Object storage for Kiln.
//!
//! ```text
//!  StoreConfig ─► open_store() ─► Arc<dyn ObjectStore> ─► check_access() at startup
//!     filesystem ─► DurableLocalStore (LocalFileSystem + fsync of file and directories)
//!     memory     ─► InMemory (tests)
//!     s3 / azure / gcs ─► object_store's AmazonS3 / MicrosoftAzure / GoogleCloudStorage,
//!                         credentials from the standard environment, optional key prefix
//! ```
//!
//! Invariant: when a `put` on the returned store completes, the object
//! survives a crash of the process or the machine. S3, Azure Blob and GCS
//! acknowledge a PUT only once it is durably stored, so they are used as
//! they are. `object_store`'s `LocalFileSystem` writes a temporary file and
//! renames it but never calls fsync, so [`DurableLocalStore`] closes that gap.
//!
//! The embedded metastore also needs create-if-absent puts
//! (`PutMode::Create`): S3 (`If-None-Match: *`), Azure (`If-None-Match: *`)
//! and GCS (`x-goog-if-generation-match: 0`) honour them; see
//! `docs/operations.md` for the emulators that do not.

mod cloud;
mod durable_local;
#[cfg(feature = "emulators")]
pub mod emulators;
pub mod testing;

pub use cloud::{AzureConfig, GcsConfig, S3Config};
pub use durable_local::DurableLocalStore;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use std::path::PathBuf;
use std::sync::Arc;

/// Where Kiln keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local directory (the embedded default, `./data`).
    Filesystem { root: PathBuf },
    /// Process memory; everything is lost at exit. For tests.
    Memory,
    /// Amazon S3 or an S3-compatible store (MinIO, R2, moto, …).
    S3(S3Config),
    /// Azure Blob Storage (or Azurite).
    Azure(AzureConfig),
    /// Google Cloud Storage.
    Gcs(GcsConfig),
}

impl StoreConfig {
    /// A short human description (`s3://bucket/prefix at http://…`) for logs
    /// and error messages. Never contains credentials.
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Filesystem { root } => format!("filesystem {}", root.display()),
            StoreConfig::Memory => "memory".to_owned(),
            StoreConfig::S3(c) => cloud::describe("s3", &c.bucket, &c.prefix, &c.endpoint),
            StoreConfig::Azure(c) => cloud::describe("azure", &c.container, &c.prefix, &c.endpoint),
            StoreConfig::Gcs(c) => cloud::describe("gs", &c.bucket, &c.prefix, &c.endpoint),
        }
    }
}

/// Errors opening a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A setting is missing or invalid; `setting` names it.
    #[error("invalid {backend} storage setting {setting}: {message}")]
    Config {
        backend: &'static str,
        setting: String,
        message: String,
    },
    /// The client could not be built from the settings and the environment
    /// (for example no Azure account name).
    #[error("cannot configure the {backend} object store: {source}")]
    Build {
        backend: &'static str,
        source: object_store::Error,
    },
    /// The store was built but does not answer (bucket missing, wrong
    /// endpoint, credentials refused).
    #[error("cannot access {store}: {source}")]
    Access {
        store: String,
        source: object_store::Error,
    },
}

/// Builds the configured object store. Does not contact the store; call
/// [`check_access`] for that.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match config {
        StoreConfig::Filesystem { root } => Ok(Arc::new(DurableLocalStore::new(root)?)),
        StoreConfig::Memory => Ok(Arc::new(InMemory::new())),
        StoreConfig::S3(c) => cloud::open_s3(c),
        StoreConfig::Azure(c) => cloud::open_azure(c),
        StoreConfig::Gcs(c) => cloud::open_gcs(c),
    }
}

/// Lists the top of the store once, so that a missing bucket, a wrong
/// endpoint or refused credentials fail at startup with a message naming
/// the store, instead of at the first flush.
pub async fn check_access(store: &dyn ObjectStore, config: &StoreConfig) -> Result<(), StoreError> {
    store
        .list_with_delimiter(None)
        .await
        .map(drop)
        .map_err(|source| StoreError::Access {
            store: config.describe(),
            source,
        })
}
