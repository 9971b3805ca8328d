//! The one test suite every [`Metastore`] implementation passes.
//!
//! Each case is a public async fn taking a fresh, empty metastore and
//! panicking on a violation. [`metastore_conformance_tests!`](crate::metastore_conformance_tests)
//! expands to one `#[tokio::test]` per case, calling a factory for each:
//!
//! ```no_run
//! mod in_memory {
//!     use kiln_meta::{InMemoryMetastore, Metastore};
//!     use std::sync::Arc;
//!     kiln_meta::metastore_conformance_tests!(|| async {
//!         Arc::new(InMemoryMetastore::new()) as Arc<dyn Metastore>
//!     });
//! }
//! ```
//!
//! The calling crate needs `tokio` (macros, multi-thread runtime) as a
//! dev-dependency. A factory whose metastore depends on something that must
//! outlive it (a temporary directory, a throwaway database) wraps it with
//! [`keep_alive`]. A backend that cannot be reached must make the factory
//! panic: the suite never skips silently.

mod cases;

pub use cases::*;

use crate::{Metastore, Result};
use async_trait::async_trait;
use kiln_block::{BlockMeta, FORMAT_VERSION, FileMeta, SeriesSummary};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

/// Expands to one `#[tokio::test]` per conformance case, each running on a
/// fresh metastore from `$factory`, an expression callable as
/// `$factory().await -> Arc<dyn Metastore>`.
#[macro_export]
macro_rules! metastore_conformance_tests {
    ($factory:expr) => {
        $crate::metastore_conformance_tests!(@cases $factory;
            register_and_list_by_time_range,
            list_sorts_by_min_time_then_id,
            get_block_finds_only_registered_blocks,
            tenant_isolation,
            register_is_idempotent,
            conflicting_register_is_rejected,
            invalid_blocks_are_rejected,
            replace_swaps_atomically,
            replace_with_missing_source_changes_nothing,
            replace_with_bad_replacements_changes_nothing,
            replace_may_reuse_a_source_id,
            delete_returns_what_was_removed,
            tenants_lists_tenants_with_blocks,
            lease_excludes_other_owners,
            lease_is_renewed_and_released_by_its_owner,
            lease_expires,
            leases_are_per_tenant_and_job,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_registers_all_land() {
            $crate::conformance::concurrent_registers_all_land(($factory)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_replaces_and_registers_all_land() {
            $crate::conformance::concurrent_replaces_and_registers_all_land(($factory)().await)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_leases_have_one_winner() {
            $crate::conformance::concurrent_leases_have_one_winner(($factory)().await).await;
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::$case(($factory)().await).await;
            }
        )*
    };
}

/// A block of `tenant` covering `[min_time_ns, max_time_ns]`, with a fresh id
/// and plausible files and summary.
pub fn block(tenant: &str, min_time_ns: i64, max_time_ns: i64) -> BlockMeta {
    block_with_id(Ulid::generate(), tenant, min_time_ns, max_time_ns)
}

/// Like [`block`], with a chosen id.
pub fn block_with_id(id: Ulid, tenant: &str, min_time_ns: i64, max_time_ns: i64) -> BlockMeta {
    BlockMeta {
        format_version: FORMAT_VERSION,
        id,
        tenant: tenant.to_owned(),
        level: 0,
        min_time_ns,
        max_time_ns,
        sources: Vec::new(),
        files: vec![FileMeta {
            name: "samples.parquet".to_owned(),
            rows: 10,
            bytes: 1024,
            footer_bytes: 256,
        }],
        summary: SeriesSummary {
            series: 1,
            profiles: 1,
            samples: 10,
            services: vec!["svc".to_owned()],
            profile_types: vec!["process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_owned()],
            label_names: BTreeMap::from([("service_name".to_owned(), 1)]),
        },
    }
}

/// Everything the metastore holds, tenant by tenant, read through the trait.
pub async fn dump(metastore: &dyn Metastore) -> BTreeMap<String, Vec<BlockMeta>> {
    let mut all = BTreeMap::new();
    for tenant in metastore.tenants().await.expect("tenants") {
        let blocks = metastore
            .list_blocks(&tenant, i64::MIN, i64::MAX)
            .await
            .expect("list_blocks");
        all.insert(tenant, blocks);
    }
    all
}

/// Wraps `metastore` so that `guard` lives as long as it does (a temporary
/// directory, a test database to drop afterwards).
pub fn keep_alive(
    metastore: Arc<dyn Metastore>,
    guard: impl Send + Sync + 'static,
) -> Arc<dyn Metastore> {
    Arc::new(KeepAlive {
        inner: metastore,
        _guard: Box::new(guard),
    })
}

struct KeepAlive {
    inner: Arc<dyn Metastore>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAlive")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Metastore for KeepAlive {
    async fn register(&self, block: BlockMeta) -> Result<()> {
        self.inner.register(block).await
    }

    async fn list_blocks(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BlockMeta>> {
        self.inner.list_blocks(tenant, start_ns, end_ns).await
    }

    async fn get_block(&self, tenant: &str, id: Ulid) -> Result<Option<BlockMeta>> {
        self.inner.get_block(tenant, id).await
    }

    async fn replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: Vec<BlockMeta>,
    ) -> Result<()> {
        self.inner.replace(tenant, sources, replacements).await
    }

    async fn delete(&self, tenant: &str, ids: &[Ulid]) -> Result<Vec<Ulid>> {
        self.inner.delete(tenant, ids).await
    }

    async fn tenants(&self) -> Result<Vec<String>> {
        self.inner.tenants().await
    }

    async fn try_lease(&self, tenant: &str, job: &str, owner: &str, ttl: Duration) -> Result<bool> {
        self.inner.try_lease(tenant, job, owner, ttl).await
    }

    async fn release_lease(&self, tenant: &str, job: &str, owner: &str) -> Result<bool> {
        self.inner.release_lease(tenant, job, owner).await
    }
}
