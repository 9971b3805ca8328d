//! Garbage collection: block folders that no metastore entry references
//! (a crash between a block's upload and its registration, a compaction
//! aborted before its swap) are marked for deletion once they are older
//! than `gc_grace`.
//!
//! ```text
//!  referenced = metastore blocks of the tenant        (listed first)
//!  folders    = tenants/<tenant>/blocks/<ULID>/       (listed second)
//!  orphan     = folder ∉ referenced, no marker yet, ULID age >= gc_grace ─► mark(orphan)
//! ```
//!
//! Age is judged by the ULID's timestamp: the ingester names blocks with
//! the wall clock and the compactor with its injected clock, so the age is
//! known without a HEAD per object. Listing the metastore before the store
//! means a block registered in between is young, hence skipped. `gc_grace`
//! must exceed the longest upload-to-register delay of any writer.

use crate::CompactorError;
use crate::deletion::{self, DeletionReason};
use kiln_block::paths;
use kiln_meta::Metastore;
use object_store::ObjectStore;
use object_store::path::Path;
use std::collections::HashSet;
use std::sync::Arc;
use ulid::Ulid;

/// Marks `tenant`'s orphan block folders older than `grace_ns`; returns them.
pub(crate) async fn collect(
    store: &Arc<dyn ObjectStore>,
    metastore: &Arc<dyn Metastore>,
    tenant: &str,
    grace_ns: i64,
    now_ns: i64,
) -> Result<Vec<Ulid>, CompactorError> {
    let referenced: HashSet<Ulid> = metastore
        .list_blocks(tenant, i64::MIN, i64::MAX)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    let marked: HashSet<Ulid> = deletion::marked_ids(store, tenant)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let listing = store
        .list_with_delimiter(Some(&paths::tenant_blocks(tenant)))
        .await?;
    let now_ms = now_ns.div_euclid(1_000_000) as i128;
    let grace_ms = (grace_ns / 1_000_000) as i128;
    let mut orphans = Vec::new();
    for dir in listing.common_prefixes {
        let Some(id) = dir.filename().and_then(|n| Ulid::from_string(n).ok()) else {
            tracing::warn!(path = %dir, "ignoring a block folder whose name is not a ULID");
            continue;
        };
        if referenced.contains(&id) || marked.contains(&id) {
            continue;
        }
        if now_ms - id.timestamp_ms() as i128 >= grace_ms {
            orphans.push(id);
        }
    }
    if !orphans.is_empty() {
        deletion::mark(store, tenant, &orphans, DeletionReason::Orphan, now_ns).await?;
        tracing::info!(%tenant, blocks = orphans.len(), "orphan blocks marked for deletion");
    }
    Ok(orphans)
}

/// Tenants that have anything in the store (`tenants/<tenant>/`), so that
/// orphans and markers of a tenant without registered blocks are found too.
pub(crate) async fn store_tenants(
    store: &Arc<dyn ObjectStore>,
) -> Result<Vec<String>, CompactorError> {
    let listing = store
        .list_with_delimiter(Some(&Path::from("tenants")))
        .await?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(decode_part))
        .collect())
}

/// Undoes `object_store`'s percent-encoding of a path segment (a tenant ID
/// may contain `*`, which is stored as `%2A`).
fn decode_part(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenant_segments_round_trip() {
        for tenant in ["anonymous", "team-a", "a*b", "x'(y)!", "50%"] {
            let path = kiln_block::paths::tenant_blocks(tenant);
            let segment = path.parts().nth(1).unwrap();
            assert_eq!(super::decode_part(segment.as_ref()), tenant);
        }
    }
}
