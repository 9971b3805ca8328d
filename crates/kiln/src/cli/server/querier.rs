//! The querier role: the `datafusion-distributed` worker that runs the
//! plan fragments a query-frontend sends, over its own store and block
//! caches. It needs no metastore: the frontend plans which blocks to read.

use kiln_query::EngineConfig;
use kiln_query::distributed::{KilnWorker, worker_service};
use object_store::ObjectStore;
use std::sync::Arc;

/// The worker this querier serves on its port.
pub fn worker(store: Arc<dyn ObjectStore>) -> KilnWorker {
    worker_service(store, EngineConfig::default())
}
