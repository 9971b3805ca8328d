//! The querier role: the `datafusion-distributed` worker that runs the
//! plan fragments a query-frontend sends, over its own store and block
//! caches. It needs no metastore: the frontend plans which blocks to read.

use kiln_query::EngineConfig;
use kiln_query::distributed::{KilnWorker, worker_service};
use kiln_server::config::KilnConfig;
use object_store::ObjectStore;
use std::sync::Arc;

/// The worker this querier serves on its port (behind
/// `querier.worker_secret` when set, see kiln-server's `worker_auth`).
pub fn worker(config: &KilnConfig, store: Arc<dyn ObjectStore>) -> KilnWorker {
    let secret = config.querier.worker_secret();
    if secret.is_none() {
        tracing::warn!(
            "querier.worker_secret is not set: anyone who can reach this port can run \
             plans over every tenant's blocks; set it on frontends and queriers alike"
        );
    }
    worker_service(store, EngineConfig::default(), secret)
}
