//! Retention: blocks wholly older than a tenant's cutoff leave the
//! metastore, then their objects are deleted after the grace period.
//!
//! ```text
//!  cutoff = now - retention period(tenant)          (period 0 = keep forever)
//!  expired = blocks with max_time_ns < cutoff
//!  mark(expired) ─► metastore.delete(expired) ─► … deletion_grace … ─► objects deleted
//! ```
//!
//! A block that straddles the cutoff (`min_time < cutoff <= max_time`) is
//! **kept until it is wholly expired**, not rewritten: its older samples stay
//! queryable a little longer than the period. Compacted blocks are aligned
//! to windows of at most a day, so the overshoot is bounded by the top
//! level's window (plus one level-0 block's span for data not yet compacted).
//! Rewriting would cost a full merge per block per run for data that is
//! about to expire anyway.

use crate::CompactorError;
use crate::deletion::{self, DeletionReason};
use crate::failpoint::{Failpoint, Failpoints};
use kiln_meta::Metastore;
use object_store::ObjectStore;
use std::sync::Arc;
use ulid::Ulid;

/// Removes `tenant`'s blocks older than `now - period_ns` from the
/// metastore (after marking them for deletion); returns their ids.
pub(crate) async fn apply(
    store: &Arc<dyn ObjectStore>,
    metastore: &Arc<dyn Metastore>,
    failpoints: &Failpoints,
    tenant: &str,
    period_ns: i64,
    now_ns: i64,
) -> Result<Vec<Ulid>, CompactorError> {
    if period_ns <= 0 {
        return Ok(Vec::new());
    }
    let cutoff = now_ns.saturating_sub(period_ns);
    let expired: Vec<Ulid> = metastore
        .list_blocks(tenant, i64::MIN, cutoff.saturating_sub(1))
        .await?
        .into_iter()
        .filter(|b| b.max_time_ns < cutoff)
        .map(|b| b.id)
        .collect();
    if expired.is_empty() {
        return Ok(expired);
    }
    // Markers first: a crash after them leaves registered blocks, which the
    // deletion pass never touches; the next run deletes them from the
    // metastore and marks them again.
    deletion::mark(store, tenant, &expired, DeletionReason::Retention, now_ns).await?;
    failpoints.check(Failpoint::RetentionBeforeDelete)?;
    let removed = metastore.delete(tenant, &expired).await?;
    tracing::info!(%tenant, blocks = removed.len(), cutoff_ns = cutoff, "retention removed blocks");
    Ok(removed)
}
