//! The blocks one session may read: always and only its tenant's.
//!
//! Every table of a session reads through one [`TenantBlocks`], which lists
//! blocks from the metastore *for the session's tenant* and opens them
//! under that tenant's prefix. Readers come from the engine's
//! [`ReaderCache`], so a block's Parquet footers, series index and stack
//! table are decoded once, not once per query: blocks are immutable, so a
//! reader stays valid for as long as its block exists.

use datafusion::common::{DataFusionError, Result};
use kiln_block::BlockReader;
use kiln_meta::Metastore;
use object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ulid::Ulid;

/// How many block readers the engine keeps between queries. A reader holds
/// its block's footers, series index and stack table once read; the least
/// recently used ones go first, so blocks compacted away fall out.
const CACHED_READERS: usize = 2048;

/// Block readers shared by every session of one engine, keyed by
/// (tenant, block): a session can only get readers of its own tenant.
#[derive(Debug, Default)]
pub(crate) struct ReaderCache {
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Reader and the tick of its last use.
    readers: HashMap<(String, Ulid), (Arc<BlockReader>, u64)>,
    tick: u64,
}

impl ReaderCache {
    /// The cached reader of `meta`'s block, or a new one (then cached).
    fn get_or_open(
        &self,
        store: &Arc<dyn ObjectStore>,
        meta: kiln_block::BlockMeta,
    ) -> Result<Arc<BlockReader>> {
        let mut state = self.state.lock().expect("reader cache lock");
        state.tick += 1;
        let tick = state.tick;
        let key = (meta.tenant.clone(), meta.id);
        if let Some((reader, used)) = state.readers.get_mut(&key) {
            *used = tick;
            return Ok(reader.clone());
        }
        let reader = Arc::new(
            BlockReader::from_meta(store.clone(), meta)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        );
        if state.readers.len() >= CACHED_READERS {
            let mut by_age: Vec<_> = state
                .readers
                .iter()
                .map(|(k, (_, t))| (*t, k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take(CACHED_READERS / 4) {
                state.readers.remove(&k);
            }
        }
        state.readers.insert(key, (reader.clone(), tick));
        Ok(reader)
    }
}

/// One tenant's blocks, listed on demand for a time range.
#[derive(Debug)]
pub(crate) struct TenantBlocks {
    tenant: String,
    store: Arc<dyn ObjectStore>,
    metastore: Arc<dyn Metastore>,
    readers: Arc<ReaderCache>,
}

impl TenantBlocks {
    pub(crate) fn new(
        tenant: &str,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
        readers: Arc<ReaderCache>,
    ) -> Self {
        Self {
            tenant: tenant.to_string(),
            store,
            metastore,
            readers,
        }
    }

    /// Readers of the tenant's blocks overlapping `[start_ns, end_ns]`.
    pub(crate) async fn list(&self, start_ns: i64, end_ns: i64) -> Result<Vec<Arc<BlockReader>>> {
        let metas = self
            .metastore
            .list_blocks(&self.tenant, start_ns, end_ns)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        // The metastore is tenant-scoped already; this guards against a buggy one.
        metas
            .into_iter()
            .filter(|m| m.tenant == self.tenant)
            .map(|meta| self.readers.get_or_open(&self.store, meta))
            .collect()
    }
}
