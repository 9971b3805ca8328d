//! Compaction-job leases held in process memory: what the in-memory and
//! embedded metastores hand out (see [`Metastore::try_lease`](crate::Metastore::try_lease)).
//!
//! Correct for one process only: two processes each holding an embedded
//! metastore on one bucket do not see each other's leases. Deployments
//! with several compactors use the PostgreSQL metastore, whose leases live
//! in the database.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// (tenant, job) → (owner, expiry).
#[derive(Debug, Default)]
pub(crate) struct LocalLeases {
    held: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl LocalLeases {
    /// Takes or renews the lease; false while another owner holds an
    /// unexpired one.
    pub(crate) async fn try_lease(
        &self,
        tenant: &str,
        job: &str,
        owner: &str,
        ttl: Duration,
    ) -> bool {
        let now = Instant::now();
        let mut held = self.held.lock().await;
        let key = (tenant.to_owned(), job.to_owned());
        if let Some((holder, expires)) = held.get(&key)
            && holder != owner
            && *expires > now
        {
            return false;
        }
        held.insert(key, (owner.to_owned(), now + ttl));
        true
    }

    /// Drops the lease if `owner` holds it (expired or not).
    pub(crate) async fn release(&self, tenant: &str, job: &str, owner: &str) -> bool {
        let mut held = self.held.lock().await;
        let key = (tenant.to_owned(), job.to_owned());
        if held.get(&key).is_some_and(|(holder, _)| holder == owner) {
            held.remove(&key);
            return true;
        }
        false
    }
}
