//! Object storage for Kiln.
//!
//! ```text
//!  config (backend, data_dir) ─► open_store() ─► Arc<dyn ObjectStore>
//!     filesystem ─► DurableLocalStore (LocalFileSystem + fsync of file and directories)
//!     memory     ─► InMemory (tests)
//! ```
//!
//! Invariant: when a `put` on the returned store completes, the object
//! survives a crash of the process or the machine. `object_store`'s
//! `LocalFileSystem` writes a temporary file and renames it but never calls
//! fsync, so [`DurableLocalStore`] closes that gap.

mod durable_local;
pub mod testing;

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
}

/// Builds the configured object store.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match config {
        StoreConfig::Filesystem { root } => Ok(Arc::new(DurableLocalStore::new(root)?)),
        StoreConfig::Memory => Ok(Arc::new(InMemory::new())),
    }
}
