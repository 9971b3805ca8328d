//! The conformance suite against every implementation in this crate.

use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, InMemoryMetastore, Metastore};
use object_store::ObjectStore;
use std::sync::Arc;

/// Small enough that the suite crosses several snapshots.
fn config() -> EmbeddedConfig {
    EmbeddedConfig {
        snapshot_every: 5,
        ..EmbeddedConfig::default()
    }
}

mod in_memory {
    use super::*;

    kiln_meta::metastore_conformance_tests!(|| async {
        Arc::new(InMemoryMetastore::new()) as Arc<dyn Metastore>
    });
}

mod embedded_on_memory_store {
    use super::*;

    kiln_meta::metastore_conformance_tests!(|| async {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let m = EmbeddedMetastore::open(store, config())
            .await
            .expect("open");
        Arc::new(m) as Arc<dyn Metastore>
    });
}

mod embedded_on_local_fs {
    use super::*;

    kiln_meta::metastore_conformance_tests!(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs =
            object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("local fs");
        let m = EmbeddedMetastore::open(Arc::new(fs), config())
            .await
            .expect("open");
        kiln_meta::conformance::keep_alive(Arc::new(m), dir)
    });
}
