//! What `/ready` waits for in every role: the object store and the
//! metastore answer. (A query-frontend adds its peers, see frontend.rs.)

use kiln_meta::Metastore;
use kiln_server::Readiness;
use kiln_store::{StoreConfig, check_access};
use object_store::ObjectStore;
use std::sync::Arc;

/// Probes of the dependencies every role shares.
pub fn shared_probes(
    store: Arc<dyn ObjectStore>,
    store_config: StoreConfig,
    metastore: Arc<dyn Metastore>,
) -> Readiness {
    let readiness = Readiness::new();
    let store_config = Arc::new(store_config);
    readiness.add_probe("object store", move || {
        let (store, config) = (store.clone(), store_config.clone());
        async move {
            check_access(&*store, &config)
                .await
                .map_err(|e| e.to_string())
        }
    });
    readiness.add_probe("metastore", move || {
        let metastore = metastore.clone();
        async move {
            metastore
                .tenants()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    });
    readiness
}
