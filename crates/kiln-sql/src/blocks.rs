//! The blocks one session may read: always and only its tenant's.
//!
//! Every table of a session reads through one [`TenantBlocks`], which lists
//! blocks from the metastore *for the session's tenant* and opens them
//! under that tenant's prefix. Readers are shared by the tables of one
//! session (a join of `samples` and `series` reads each series index once).

use datafusion::common::{DataFusionError, Result};
use kiln_block::BlockReader;
use kiln_meta::Metastore;
use object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ulid::Ulid;

/// One tenant's blocks, listed on demand for a time range.
#[derive(Debug)]
pub(crate) struct TenantBlocks {
    tenant: String,
    store: Arc<dyn ObjectStore>,
    metastore: Arc<dyn Metastore>,
    readers: Mutex<HashMap<Ulid, Arc<BlockReader>>>,
}

impl TenantBlocks {
    pub(crate) fn new(
        tenant: &str,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
    ) -> Self {
        Self {
            tenant: tenant.to_string(),
            store,
            metastore,
            readers: Mutex::new(HashMap::new()),
        }
    }

    /// Readers of the tenant's blocks overlapping `[start_ns, end_ns]`.
    pub(crate) async fn list(&self, start_ns: i64, end_ns: i64) -> Result<Vec<Arc<BlockReader>>> {
        let metas = self
            .metastore
            .list_blocks(&self.tenant, start_ns, end_ns)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut readers = self.readers.lock().expect("readers lock");
        let mut out = Vec::with_capacity(metas.len());
        // The metastore is tenant-scoped already; this guards against a buggy one.
        for meta in metas.into_iter().filter(|m| m.tenant == self.tenant) {
            let reader = match readers.get(&meta.id) {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(
                        BlockReader::from_meta(self.store.clone(), meta)
                            .map_err(|e| DataFusionError::External(Box::new(e)))?,
                    );
                    readers.insert(r.meta().id, r.clone());
                    r
                }
            };
            out.push(reader);
        }
        Ok(out)
    }
}
