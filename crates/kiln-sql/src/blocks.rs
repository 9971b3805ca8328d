//! The blocks one session may read: always and only its tenant's.
//!
//! Every table of a session reads through one [`TenantBlocks`], which lists
//! blocks from the metastore *for the session's tenant* and reads them
//! through kiln-query's [`BlockCache`] (every key carries the tenant). In a
//! server the cache is the query engine's own, so SQL and the Pyroscope
//! APIs share one memory budget and one set of decoded footers, series
//! indexes and stack tables.

use datafusion::common::{DataFusionError, Result};
use kiln_block::{BlockError, BlockMeta, BlockReader, SeriesIndex, StackResolver};
use kiln_meta::Metastore;
use kiln_query::BlockCache;
use std::collections::HashSet;
use std::sync::Arc;
use ulid::Ulid;

fn external(e: BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// One listed block of the session's tenant.
#[derive(Debug, Clone)]
pub(crate) struct TenantBlock {
    meta: Arc<BlockMeta>,
    cache: Arc<BlockCache>,
}

impl TenantBlock {
    pub(crate) fn id(&self) -> Ulid {
        self.meta.id
    }

    /// The block's scan reader (footers cached).
    pub(crate) async fn reader(&self) -> Result<Arc<BlockReader>> {
        self.cache.reader(&self.meta).await.map_err(external)
    }

    /// The block's series with postings.
    pub(crate) async fn series(&self) -> Result<Arc<SeriesIndex>> {
        self.cache.series(&self.meta).await.map_err(external)
    }

    /// The block's stack tree and frames.
    pub(crate) async fn stacks(&self) -> Result<Arc<StackResolver>> {
        self.cache.stacks(&self.meta).await.map_err(external)
    }
}

/// One tenant's blocks, listed on demand for a time range.
#[derive(Debug)]
pub(crate) struct TenantBlocks {
    tenant: String,
    metastore: Arc<dyn Metastore>,
    cache: Arc<BlockCache>,
}

impl TenantBlocks {
    pub(crate) fn new(tenant: &str, metastore: Arc<dyn Metastore>, cache: Arc<BlockCache>) -> Self {
        Self {
            tenant: tenant.to_string(),
            metastore,
            cache,
        }
    }

    /// The tenant's blocks overlapping `[start_ns, end_ns]`. Cached data of
    /// blocks in that range the metastore no longer lists (compacted away)
    /// is dropped, as the query path does.
    pub(crate) async fn list(&self, start_ns: i64, end_ns: i64) -> Result<Vec<TenantBlock>> {
        let metas = self
            .metastore
            .list_blocks(&self.tenant, start_ns, end_ns)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        // The metastore is tenant-scoped already; this guards against a buggy one.
        let metas: Vec<BlockMeta> = metas
            .into_iter()
            .filter(|m| m.tenant == self.tenant)
            .collect();
        let listed: HashSet<Ulid> = metas.iter().map(|m| m.id).collect();
        self.cache
            .forget_unlisted(&self.tenant, start_ns, end_ns, &listed);
        Ok(metas
            .into_iter()
            .map(|meta| TenantBlock {
                meta: Arc::new(meta),
                cache: self.cache.clone(),
            })
            .collect())
    }
}
