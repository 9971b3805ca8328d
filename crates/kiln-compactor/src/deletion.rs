//! Deferred deletion: a durable marker per block to delete, processed once
//! the grace period has passed.
//!
//! ```text
//!  tenants/<tenant>/deletions/<ULID>.json   {"block": …, "marked_at_ns": …, "reason": "compacted"}
//!
//!  mark (before the metastore forgets the block) ─► … deletion_grace … ─►
//!  process: block still registered? keep the marker, delete nothing
//!           else: DELETE meta.json ─► DELETE the data files ─► DELETE the marker
//! ```
//!
//! Invariants:
//! - the objects of a block registered in the metastore are never deleted:
//!   the metastore is checked right before deleting, so a marker written by
//!   a step that then crashed (compaction before its swap, retention before
//!   its metastore delete) is harmless;
//! - a block's objects outlive its metastore entry by at least
//!   `deletion_grace`, so queries that listed it finish reading;
//! - `meta.json` goes first, so a half-deleted folder is never a committed
//!   block; the marker goes last, so a crash mid-way is finished by the next
//!   run (markers survive restarts: they are objects, not memory).

use crate::CompactorError;
use crate::failpoint::{Failpoint, Failpoints};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use kiln_block::paths::{self, files};
use kiln_meta::Metastore;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ulid::Ulid;

/// Version of the marker layout.
const MARKER_VERSION: u32 = 1;

/// Why a block is being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletionReason {
    /// Replaced by a compacted block.
    Compacted,
    /// Wholly older than the tenant's retention period.
    Retention,
    /// Unreferenced by the metastore (a crashed write or an aborted job).
    Orphan,
}

impl DeletionReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeletionReason::Compacted => "compacted",
            DeletionReason::Retention => "retention",
            DeletionReason::Orphan => "orphan",
        }
    }
}

/// One pending deletion, stored as `tenants/<tenant>/deletions/<ULID>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionMarker {
    pub format_version: u32,
    pub tenant: String,
    pub block: Ulid,
    /// When the block was marked, on the compactor's clock.
    pub marked_at_ns: i64,
    pub reason: DeletionReason,
}

/// `tenants/<tenant>/deletions/`
pub fn deletions_dir(tenant: &str) -> Path {
    Path::from_iter(["tenants", tenant, "deletions"])
}

/// `tenants/<tenant>/deletions/<ULID>.json`
pub fn marker_path(tenant: &str, block: Ulid) -> Path {
    deletions_dir(tenant).join(format!("{block}.json"))
}

/// Writes one marker per block (overwriting older ones: the grace period
/// restarts, which only ever delays deletion).
pub(crate) async fn mark(
    store: &Arc<dyn ObjectStore>,
    tenant: &str,
    blocks: &[Ulid],
    reason: DeletionReason,
    now_ns: i64,
) -> Result<(), CompactorError> {
    let puts = blocks.iter().map(|&block| {
        let marker = DeletionMarker {
            format_version: MARKER_VERSION,
            tenant: tenant.to_string(),
            block,
            marked_at_ns: now_ns,
            reason,
        };
        async move {
            let json = Bytes::from(serde_json::to_vec(&marker)?);
            store
                .put(&marker_path(tenant, block), PutPayload::from(json))
                .await?;
            Ok::<_, CompactorError>(())
        }
    });
    futures::stream::iter(puts)
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Block ids with a marker (by file name: readable or not).
pub(crate) async fn marked_ids(
    store: &Arc<dyn ObjectStore>,
    tenant: &str,
) -> Result<Vec<(Ulid, Path)>, CompactorError> {
    let listed: Vec<_> = store
        .list(Some(&deletions_dir(tenant)))
        .try_collect()
        .await?;
    Ok(listed
        .into_iter()
        .filter_map(|o| {
            let name = o.location.filename()?;
            let id = Ulid::from_string(name.strip_suffix(".json")?).ok()?;
            Some((id, o.location))
        })
        .collect())
}

/// What one deletion pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deleted {
    pub blocks: u64,
    pub objects: u64,
}

/// Deletes the objects of every marked block whose grace period is over
/// and that the metastore no longer references.
pub(crate) async fn process(
    store: &Arc<dyn ObjectStore>,
    metastore: &Arc<dyn Metastore>,
    failpoints: &Failpoints,
    tenant: &str,
    grace_ns: i64,
    now_ns: i64,
) -> Result<Deleted, CompactorError> {
    let mut done = Deleted::default();
    for (id, path) in marked_ids(store, tenant).await? {
        let marker = match read_marker(store, &path).await? {
            Some(m) if m.block == id && m.tenant == tenant => m,
            _ => {
                // Unreadable or misplaced: restart its grace with a clean one.
                tracing::warn!(%path, "replacing an unreadable deletion marker");
                mark(store, tenant, &[id], DeletionReason::Orphan, now_ns).await?;
                continue;
            }
        };
        if (marker.marked_at_ns as i128) + (grace_ns as i128) > now_ns as i128 {
            continue;
        }
        if metastore.get_block(tenant, id).await?.is_some() {
            tracing::debug!(%tenant, block = %id, "marked block is still registered; kept");
            continue;
        }
        let objects = delete_block_objects(store, failpoints, tenant, id).await?;
        store.delete(&path).await?;
        done.blocks += 1;
        done.objects += objects;
        crate::metrics::objects_deleted(marker.reason, objects);
        tracing::debug!(%tenant, block = %id, reason = marker.reason.as_str(), objects, "block deleted");
    }
    Ok(done)
}

async fn read_marker(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<Option<DeletionMarker>, CompactorError> {
    let bytes = match store.get(path).await {
        Ok(r) => r.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Deletes every object of block `id`: `meta.json` first. Returns how many.
pub(crate) async fn delete_block_objects(
    store: &Arc<dyn ObjectStore>,
    failpoints: &Failpoints,
    tenant: &str,
    id: Ulid,
) -> Result<u64, CompactorError> {
    let meta = paths::block_file(tenant, id, files::META);
    let mut deleted = 0;
    match store.delete(&meta).await {
        Ok(()) => deleted += 1,
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    failpoints.check(Failpoint::MidObjectDelete)?;
    let rest: Vec<Path> = store
        .list(Some(&paths::block_dir(tenant, id)))
        .map_ok(|o| o.location)
        .try_collect()
        .await?;
    for path in rest {
        match store.delete(&path).await {
            Ok(()) => deleted += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}
