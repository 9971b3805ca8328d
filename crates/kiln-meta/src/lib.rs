//! Kiln's metastore: per tenant, which blocks exist and what time they cover.
//!
//! ```text
//!  ingester ──register(L0 block)──┐
//!  compactor ─replace(sources → merged), delete(expired)──┤
//!                                                ▼
//!                                  dyn Metastore ── tenant → (min_time, id) → BlockMeta
//!                                      │    ├── InMemoryMetastore   (tests; nothing persisted)
//!                                      │    ├── EmbeddedMetastore   (object store: metastore/log/<seq>.json
//!                                      │    │                         + metastore/snapshots/<seq>.json)
//!                                      │    └── PostgresMetastore   (crate kiln-meta-postgres: tables in
//!                                      │                              PostgreSQL; for several processes)
//!  query-frontend ◄─list_blocks(tenant, [start, end])─┘
//! ```
//!
//! Invariants, checked against every implementation by one conformance suite
//! (`kiln_meta::conformance` and `metastore_conformance_tests!`, behind the
//! `conformance` feature):
//! - **Tenant isolation.** Blocks are keyed by (tenant, id); no method called
//!   for one tenant reads, changes or reveals another tenant's blocks.
//! - **Acknowledged means committed.** When a write returns `Ok`, every later
//!   read sees it; for persistent implementations it survives a crash.
//! - **Atomic replace.** `replace` removes all sources and adds all
//!   replacements, or changes nothing: a query sees either the sources or the
//!   compacted block, never both and never neither (design §5).
//! - **Idempotent register.** Registering the same block twice is a no-op, so
//!   an ingester may retry; a *different* block under a registered id is a
//!   [`MetaError::Conflict`].
//! - Validation happens before any write: an `Err` other than an I/O error
//!   means nothing changed.
//! - **Exclusive leases.** At most one owner holds an unexpired lease on a
//!   (tenant, job) at a time (`try_lease`); in-process implementations are
//!   exclusive within their process only.

mod embedded;
mod error;
mod lease;
mod memory;
mod state;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use embedded::{EmbeddedConfig, EmbeddedMetastore};
pub use error::{MetaError, Result};
pub use memory::InMemoryMetastore;
pub use state::{validate_block, validate_replacements};

use async_trait::async_trait;
use kiln_block::BlockMeta;
use std::time::Duration;
use ulid::Ulid;

/// The per-tenant block index. Object-safe: pass it around as
/// `Arc<dyn Metastore>`.
#[async_trait]
pub trait Metastore: Send + Sync + std::fmt::Debug {
    /// Adds a committed block (its `meta.json` is already in object storage)
    /// under `block.tenant`.
    ///
    /// Idempotent: registering a block equal to the registered one with that
    /// id is `Ok` and changes nothing. A different block with the same id is
    /// [`MetaError::Conflict`]; an empty tenant or `min_time_ns > max_time_ns`
    /// is [`MetaError::InvalidBlock`].
    async fn register(&self, block: BlockMeta) -> Result<()>;

    /// Blocks of `tenant` whose `[min_time_ns, max_time_ns]` intersects
    /// `[start_ns, end_ns]` (both inclusive), sorted by (`min_time_ns`, id).
    /// Empty for an unknown tenant or when `start_ns > end_ns`.
    async fn list_blocks(&self, tenant: &str, start_ns: i64, end_ns: i64)
    -> Result<Vec<BlockMeta>>;

    /// The block `id` of `tenant`, if registered.
    async fn get_block(&self, tenant: &str, id: Ulid) -> Result<Option<BlockMeta>>;

    /// Atomically removes `sources` and adds `replacements`, all of `tenant`
    /// (the compaction swap).
    ///
    /// Fails without changing anything when a source is not registered
    /// ([`MetaError::NotFound`]), a replacement belongs to another tenant or
    /// two replacements share an id ([`MetaError::InvalidBlock`]), or a
    /// replacement's id is taken by a block that is not a source
    /// ([`MetaError::Conflict`]). A replacement may reuse a source's id.
    /// Duplicate source ids count once. Not idempotent: after a lost answer,
    /// a retry fails with `NotFound`; check with [`Metastore::get_block`]
    /// whether the replacements landed.
    async fn replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: Vec<BlockMeta>,
    ) -> Result<()>;

    /// Removes the blocks `ids` of `tenant`; ids not registered are ignored.
    /// Returns the ids removed, in the order given, without duplicates.
    async fn delete(&self, tenant: &str, ids: &[Ulid]) -> Result<Vec<Ulid>>;

    /// Tenants that currently have at least one block, sorted.
    async fn tenants(&self) -> Result<Vec<String>>;

    /// Takes the lease on job `job` of `tenant` (a compaction job's key) for
    /// `owner`, for `ttl`, so that of several compactors only one works on a
    /// job at a time. `true` when `owner` now holds it: it was free, expired,
    /// or already `owner`'s (then renewed to `ttl` from now); `false` while
    /// another owner's lease is unexpired. Leases only avoid duplicate work:
    /// the atomic [`Metastore::replace`] still keeps the index correct if two
    /// compactors race anyway.
    async fn try_lease(&self, tenant: &str, job: &str, owner: &str, ttl: Duration) -> Result<bool>;

    /// Gives the lease back before it expires. `true` when `owner` held it
    /// (expired or not); another owner's lease is left alone.
    async fn release_lease(&self, tenant: &str, job: &str, owner: &str) -> Result<bool>;
}
