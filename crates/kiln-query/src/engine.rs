//! [`DataFusionEngine`]: the [`QueryEngine`] that plans against the
//! metastore and runs DataFusion over blocks, on its own runtime.

pub(crate) mod runtime;

use crate::api::{LabelsQuery, ProfileQuery, ProfileStats, QueryEngine, SeriesQuery};
use crate::blocks::{BlockCache, BlockCacheStats, CacheConfig};
use crate::distributed::Coordinator;
use crate::error::QueryError;
use crate::table::{ScanCounters, TableScanStats};
use crate::{labels, merge, series};
use arrow::array::RecordBatch;
use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion::prelude::{SessionConfig, SessionContext};
use kiln_meta::Metastore;
use kiln_model::tree::Tree;
use kiln_model::{Labels, ProfileType};
use object_store::ObjectStore;
use runtime::CpuRuntime;
pub use runtime::{AbortOnDrop, QueryRuntime};
use std::sync::Arc;
use std::time::Duration;

/// Settings of a [`DataFusionEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Memory bounds of the per-block caches.
    pub cache: CacheConfig,
    /// DataFusion partitions per query (block groups scanned in parallel);
    /// 0 = available cores.
    pub target_partitions: usize,
    /// Worker threads of the query runtime; 0 = available cores.
    pub cpu_threads: usize,
    /// Read the compactor's rollup tables where they give the same answer
    /// as raw samples (see `docs/query.md`); `false` forces raw samples,
    /// e.g. to compare the two.
    pub use_rollups: bool,
    /// Distributed engines: how long a querier peer found dead is skipped
    /// by every query (then tried again), so a dead static peer costs one
    /// failed attempt per quarantine, not one per query.
    pub peer_quarantine: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache: CacheConfig::default(),
            target_partitions: 0,
            cpu_threads: 0,
            use_rollups: true,
            peer_quarantine: Duration::from_secs(30),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `n`, or the available cores when `n` is 0 (the config's "auto").
pub(crate) fn or_cores(n: usize) -> usize {
    if n == 0 { cores() } else { n }
}

/// State shared by every query of one engine.
pub(crate) struct Inner {
    pub(crate) metastore: Arc<dyn Metastore>,
    /// Shared with the plan codec, which reopens shipped scans through it.
    pub(crate) blocks: Arc<BlockCache>,
    /// One session for all queries: each query reads its own per-query
    /// tables through `read_table` and calls its own `flamegraph` instance,
    /// so nothing is registered and queries do not interfere.
    pub(crate) ctx: SessionContext,
    pub(crate) target_partitions: usize,
    /// [`EngineConfig::use_rollups`].
    pub(crate) use_rollups: bool,
    /// What the scans read, by table.
    pub(crate) scan_counters: Arc<ScanCounters>,
    /// Set by [`DataFusionEngine::distributed`]: plans run over the querier
    /// peers instead of in this process.
    pub(crate) coordinator: Option<Coordinator>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("metastore", &self.metastore)
            .field("blocks", &self.blocks)
            .field("target_partitions", &self.target_partitions)
            .finish_non_exhaustive()
    }
}

/// Runs `df`: over the querier peers when the engine is distributed, in
/// this process otherwise.
pub(crate) async fn execute(
    inner: &Inner,
    df: DataFrame,
    what: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    match &inner.coordinator {
        Some(coordinator) => coordinator.collect(df, what).await,
        None => execute_local(df, what).await,
    }
}

/// Plans `df` physically, logs the plan at debug level and collects it.
pub(crate) async fn execute_local(
    df: DataFrame,
    what: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    tracing::debug!(query = what, plan = %displayable(plan.as_ref()).indent(true), "physical plan");
    Ok(collect(plan, task).await?)
}

/// A physical plan as the engine runs it, with the group labels of a
/// SelectSeries plan's `group_id` column (empty for flame graphs).
/// For tests and tools that ship plans ([`crate::KilnPlanCodec`]).
#[doc(hidden)]
#[derive(Debug)]
pub struct PhysicalQueryPlan {
    pub plan: Arc<dyn ExecutionPlan>,
    pub group_labels: Vec<Labels>,
}

/// Answers queries by planning against the metastore and running DataFusion
/// plans over the tenant's blocks (see the crate docs).
#[derive(Debug)]
pub struct DataFusionEngine {
    inner: Arc<Inner>,
    runtime: Arc<CpuRuntime>,
}

impl DataFusionEngine {
    /// An engine reading blocks from `store` as listed by `metastore`.
    /// Starts the engine's query runtime (`config.cpu_threads` threads).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
        config: EngineConfig,
    ) -> Result<Self, QueryError> {
        Self::build(store, metastore, config, None)
    }

    /// An engine like [`DataFusionEngine::new`] whose flame-graph and
    /// series plans run their scans and partial aggregation on the querier
    /// `peers` (`datafusion-distributed` workers, see
    /// [`crate::distributed`]); planning, label and profile-type queries and
    /// the final merge stay in this process.
    /// Every worker call carries `secret` when given (queriers configured
    /// with one refuse calls without it).
    pub fn distributed(
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
        config: EngineConfig,
        peers: Arc<dyn crate::distributed::PeerSource>,
        secret: Option<crate::distributed::WorkerSecret>,
    ) -> Result<Self, QueryError> {
        Self::build(store, metastore, config, Some((peers, secret)))
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
        config: EngineConfig,
        peers: Option<(
            Arc<dyn crate::distributed::PeerSource>,
            Option<crate::distributed::WorkerSecret>,
        )>,
    ) -> Result<Self, QueryError> {
        let target_partitions = or_cores(config.target_partitions);
        let session = SessionConfig::new().with_target_partitions(target_partitions);
        let blocks = Arc::new(BlockCache::new(store, config.cache));
        let scan_counters: Arc<ScanCounters> = Arc::default();
        let coordinator = peers.map(|(peers, secret)| {
            let codec = crate::KilnPlanCodec::new(blocks.clone(), scan_counters.clone());
            Coordinator::new(
                peers,
                codec,
                target_partitions,
                secret,
                config.peer_quarantine,
            )
        });
        Ok(Self {
            inner: Arc::new(Inner {
                metastore,
                blocks,
                ctx: SessionContext::new_with_config(session),
                target_partitions,
                use_rollups: config.use_rollups,
                scan_counters,
                coordinator,
            }),
            runtime: Arc::new(CpuRuntime::new(or_cores(config.cpu_threads))?),
        })
    }

    /// Hits, misses and memory of the block caches.
    pub fn cache_stats(&self) -> BlockCacheStats {
        self.inner.blocks.stats()
    }

    /// Scan segments and rows read so far, by table (raw samples or
    /// rollups).
    pub fn scan_stats(&self) -> TableScanStats {
        self.inner.scan_counters.snapshot()
    }

    /// Distributed queries, retries and in-process fallbacks so far; `None`
    /// for an in-process engine.
    pub fn distributed_stats(&self) -> Option<crate::distributed::DistributedStats> {
        self.inner.coordinator.as_ref().map(Coordinator::stats)
    }

    /// The engine's block caches, for another reader of the same store in
    /// this process (the SQL engine) to share.
    pub fn block_cache(&self) -> Arc<BlockCache> {
        self.inner.blocks.clone()
    }

    /// The engine's query runtime, for the SQL engine of the same process
    /// to execute on.
    pub fn query_runtime(&self) -> QueryRuntime {
        QueryRuntime(self.runtime.clone())
    }

    /// Empties the block caches (e.g. to measure cold queries).
    pub fn clear_caches(&self) {
        self.inner.blocks.clear();
    }

    /// A codec that encodes this engine's plans and decodes plans into
    /// scans of this engine's store, metastore and caches (a remote querier
    /// decodes with its own engine's codec).
    pub fn plan_codec(&self) -> crate::KilnPlanCodec {
        crate::KilnPlanCodec::new(self.inner.blocks.clone(), self.inner.scan_counters.clone())
    }

    /// The task context plans of this engine run in.
    #[doc(hidden)]
    pub fn task_ctx(&self) -> Arc<TaskContext> {
        self.inner.ctx.task_ctx()
    }

    /// The physical plan `merge_tree(query)` runs; `None` when no block has
    /// anything to read.
    #[doc(hidden)]
    pub async fn merge_tree_plan(
        &self,
        query: &ProfileQuery,
    ) -> Result<Option<PhysicalQueryPlan>, QueryError> {
        let query = query.clone();
        self.run(|inner| async move {
            let Some(df) = merge::merge_tree_frame(&inner, &query).await? else {
                return Ok(None);
            };
            Ok(Some(PhysicalQueryPlan {
                plan: df.create_physical_plan().await?,
                group_labels: Vec::new(),
            }))
        })
        .await
    }

    /// The physical plan `select_series(query)` runs; `None` when no block
    /// has anything to read.
    #[doc(hidden)]
    pub async fn select_series_plan(
        &self,
        query: &SeriesQuery,
    ) -> Result<Option<PhysicalQueryPlan>, QueryError> {
        let query = query.clone();
        self.run(|inner| async move {
            let Some((df, group_labels)) = series::series_frame(&inner, &query).await? else {
                return Ok(None);
            };
            Ok(Some(PhysicalQueryPlan {
                plan: df.create_physical_plan().await?,
                group_labels,
            }))
        })
        .await
    }

    /// Runs `f(inner)` on the query runtime.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        self.runtime.run(f(self.inner.clone())).await
    }
}

#[async_trait]
impl QueryEngine for DataFusionEngine {
    async fn merge_tree(&self, query: &ProfileQuery) -> Result<Tree, QueryError> {
        let query = query.clone();
        self.run(|inner| async move { merge::merge_tree(&inner, &query).await })
            .await
    }

    async fn select_series(
        &self,
        query: &SeriesQuery,
    ) -> Result<Vec<kiln_proto::types::v1::Series>, QueryError> {
        let query = query.clone();
        self.run(|inner| async move { series::select_series(&inner, &query).await })
            .await
    }

    async fn profile_types(
        &self,
        tenant: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ProfileType>, QueryError> {
        let tenant = tenant.to_string();
        self.run(
            |inner| async move { labels::profile_types(&inner, &tenant, start_ms, end_ms).await },
        )
        .await
    }

    async fn label_names(&self, query: &LabelsQuery) -> Result<Vec<String>, QueryError> {
        let query = query.clone();
        self.run(|inner| async move { labels::label_names(&inner, &query).await })
            .await
    }

    async fn label_values(
        &self,
        query: &LabelsQuery,
        name: &str,
    ) -> Result<Vec<String>, QueryError> {
        let (query, name) = (query.clone(), name.to_string());
        self.run(|inner| async move { labels::label_values(&inner, &query, &name).await })
            .await
    }

    async fn series(
        &self,
        query: &LabelsQuery,
        label_names: &[String],
    ) -> Result<Vec<Labels>, QueryError> {
        let (query, names) = (query.clone(), label_names.to_vec());
        self.run(|inner| async move { labels::series(&inner, &query, &names).await })
            .await
    }

    async fn profile_stats(&self, tenant: &str) -> Result<ProfileStats, QueryError> {
        let tenant = tenant.to_string();
        self.run(|inner| async move { labels::profile_stats(&inner, &tenant).await })
            .await
    }
}
