//! The querier side: a `datafusion-distributed` worker that decodes Kiln's
//! plan parts with [`KilnPlanCodec`] over its own store and block caches.
//!
//! The worker is its own gRPC service, `worker.WorkerService`
//! (`CoordinatorChannel`, `ExecuteTask`, `GetWorkerInfo`; batches travel as
//! Arrow Flight `FlightData` messages), not `arrow.flight.protocol
//! .FlightService`: it mounts under [`WORKER_PATH_PREFIX`] next to Flight
//! SQL on the same port without sharing a path.

use super::WORKER_TASKS_TOTAL;
use super::auth::WorkerSecret;
use super::channels::PeerChannels;
use crate::blocks::{BlockCache, BlockCacheStats};
use crate::codec::{KilnPlanCodec, TaskSymbols};
use crate::engine::EngineConfig;
use crate::flamegraph::{BlockSymbols, Flamegraph};
use crate::table::{ScanCounters, TableScanStats};
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::logical_expr::AggregateUDF;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext, WorkerSessionBuilder};
use object_store::ObjectStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The gRPC path prefix of every worker call, for routing.
pub const WORKER_PATH_PREFIX: &str = "/worker.WorkerService/";

/// A querier's worker: the `datafusion-distributed` [`Worker`] plus what it
/// has done (tasks, scans, caches), for `/metrics` and tests.
#[derive(Clone)]
pub struct KilnWorker {
    worker: Worker,
    blocks: Arc<BlockCache>,
    scan_counters: Arc<ScanCounters>,
    tasks: Arc<AtomicU64>,
}

impl std::fmt::Debug for KilnWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KilnWorker")
            .field("tasks", &self.tasks())
            .finish_non_exhaustive()
    }
}

/// The worker a querier serves: plan fragments from a frontend's
/// [`crate::DataFusionEngine::distributed`] run here over `store`, with
/// block caches bounded by `config.cache`. Mount
/// `worker_service(..).worker().into_worker_server()` (a tonic service) at
/// [`WORKER_PATH_PREFIX`]; fragments run on the serving tokio runtime, which
/// must be multi-threaded (decoding loads blocks with `block_in_place`).
///
/// A stage that reads another stage's output (a shuffle) makes this worker
/// call its peers: those calls carry `secret` like a frontend's.
pub fn worker_service(
    store: Arc<dyn ObjectStore>,
    config: EngineConfig,
    secret: Option<WorkerSecret>,
) -> KilnWorker {
    let blocks = Arc::new(BlockCache::new(store, config.cache));
    let scan_counters: Arc<ScanCounters> = Arc::default();
    let tasks = Arc::new(AtomicU64::new(0));
    let sessions = KilnSessions {
        codec: KilnPlanCodec::new(blocks.clone(), scan_counters.clone()),
        channels: PeerChannels::new(secret),
        tasks: tasks.clone(),
    };
    KilnWorker {
        worker: Worker::from_session_builder(sessions),
        blocks,
        scan_counters,
        tasks,
    }
}

impl KilnWorker {
    /// The `datafusion-distributed` worker; `.into_worker_server()` gives
    /// the tonic service to mount.
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// Plan fragments (tasks) received so far.
    pub fn tasks(&self) -> u64 {
        self.tasks.load(Ordering::Relaxed)
    }

    /// Scan segments and rows this worker has read, by table.
    pub fn scan_stats(&self) -> TableScanStats {
        self.scan_counters.snapshot()
    }

    /// Hits, misses and memory of this worker's block caches.
    pub fn cache_stats(&self) -> BlockCacheStats {
        self.blocks.stats()
    }
}

/// Builds the session of each task a coordinator sends: Kiln's codec over
/// this worker's caches, and a task count.
struct KilnSessions {
    codec: KilnPlanCodec,
    /// Connections to other workers, for stages reading their output.
    channels: PeerChannels,
    tasks: Arc<AtomicU64>,
}

#[async_trait]
impl WorkerSessionBuilder for KilnSessions {
    async fn build_session_state(
        &self,
        ctx: WorkerQueryContext,
    ) -> Result<SessionState, DataFusionError> {
        self.tasks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(WORKER_TASKS_TOTAL).increment(1);
        // `flamegraph` arrives by name; its symbols are bound by the codec
        // as the task's scans decode (see `codec::TaskSymbols`).
        let symbols = Arc::new(BlockSymbols::unbound());
        let mut state = ctx
            .builder
            .with_distributed_user_codec(self.codec.clone())
            .with_distributed_channel_resolver(self.channels.clone())
            .build();
        state
            .config_mut()
            .set_extension(Arc::new(TaskSymbols(symbols.clone())));
        state.register_udaf(Arc::new(AggregateUDF::new_from_impl(Flamegraph::new(
            symbols,
        ))))?;
        Ok(state)
    }
}
