//! A metastore that lives only in memory: for tests and throwaway servers.

use crate::Metastore;
use crate::error::Result;
use crate::lease::LocalLeases;
use crate::state::{Op, State};
use async_trait::async_trait;
use kiln_block::BlockMeta;
use std::time::Duration;
use tokio::sync::RwLock;
use ulid::Ulid;

/// A [`Metastore`] without persistence: everything is lost on drop.
///
/// Operations are serialised by one lock, so each is atomic and they are
/// linearizable.
#[derive(Debug, Default)]
pub struct InMemoryMetastore {
    state: RwLock<State>,
    leases: LocalLeases,
}

impl InMemoryMetastore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates and applies `op` under one write lock; returns the ids removed.
    async fn commit(&self, op: Op) -> Result<Vec<Ulid>> {
        let mut state = self.state.write().await;
        let Some(op) = state.prepare(&op)? else {
            return Ok(Vec::new());
        };
        let removed = op.removed_ids();
        state.apply(op);
        Ok(removed)
    }
}

#[async_trait]
impl Metastore for InMemoryMetastore {
    async fn register(&self, block: BlockMeta) -> Result<()> {
        self.commit(Op::Register { block }).await.map(drop)
    }

    async fn list_blocks(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BlockMeta>> {
        Ok(self.state.read().await.list(tenant, start_ns, end_ns))
    }

    async fn get_block(&self, tenant: &str, id: Ulid) -> Result<Option<BlockMeta>> {
        Ok(self.state.read().await.get(tenant, id))
    }

    async fn replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: Vec<BlockMeta>,
    ) -> Result<()> {
        let op = Op::Replace {
            tenant: tenant.to_owned(),
            sources: sources.to_vec(),
            replacements,
        };
        self.commit(op).await.map(drop)
    }

    async fn delete(&self, tenant: &str, ids: &[Ulid]) -> Result<Vec<Ulid>> {
        let op = Op::Delete {
            tenant: tenant.to_owned(),
            ids: ids.to_vec(),
        };
        self.commit(op).await
    }

    async fn tenants(&self) -> Result<Vec<String>> {
        Ok(self.state.read().await.tenant_names())
    }
    async fn try_lease(&self, tenant: &str, job: &str, owner: &str, ttl: Duration) -> Result<bool> {
        Ok(self.leases.try_lease(tenant, job, owner, ttl).await)
    }

    async fn release_lease(&self, tenant: &str, job: &str, owner: &str) -> Result<bool> {
        Ok(self.leases.release(tenant, job, owner).await)
    }
}
