//! The frontend side: runs an engine's DataFrames with the distributed
//! planner over the current peers, retrying on the peers still alive when
//! one fails.
//!
//! ```text
//!  collect(df) ─► peers() minus quarantined ones minus peers dropped by this query ── none? ─► in process
//!     ─► clone of the distributed SessionState, resolver = those peers
//!     ─► physical plan (stages split by `split`) ─► collect
//!     ─► error? probe every peer of the attempt (GetWorkerInfo, 2 s)
//!          ├─ all answer: the error is the query's own ─► return it
//!          └─ some don't: drop them, quarantine them (every query skips
//!             them for `peer_quarantine`), retry (≤ MAX_ATTEMPTS), else in process
//! ```

use super::channels::PeerChannels;
use super::{FALLBACKS_TOTAL, PEERS_DROPPED_TOTAL, PeerSource, RETRIES_TOTAL, split};
use crate::codec::KilnPlanCodec;
use crate::error::QueryError;
use arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::dataframe::DataFrame;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{
    ChannelResolver, DistributedExt, GetWorkerInfoRequest, SessionStateBuilderExt, WorkerResolver,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Distributed attempts of one query before it runs in process.
pub(crate) const MAX_ATTEMPTS: usize = 3;
/// How long a peer may take to answer the liveness probe after a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Counts of a distributed engine since it started
/// ([`crate::DataFusionEngine::distributed_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DistributedStats {
    /// Queries that finished over the peers.
    pub distributed: u64,
    /// Attempts repeated after a peer stopped answering.
    pub retries: u64,
    /// Queries run in process because no peer was left (or attempts ran out).
    pub fallbacks: u64,
    /// Peers skipped right now because they were found dead lately.
    pub quarantined: usize,
}

/// `peers`, with a single peer listed twice: the distributed planner only
/// cuts a stage into network tasks when it sees two workers or more, and
/// otherwise runs the whole plan on the frontend. Listed twice, one querier
/// gets both tasks and the frontend only merges, as with more queriers.
fn at_least_two(mut peers: Vec<Url>) -> Vec<Url> {
    if let [only] = peers.as_slice() {
        peers.push(only.clone());
    }
    peers
}

/// The peers of one attempt, as `datafusion-distributed` asks for them.
struct AttemptPeers(Vec<Url>);

impl WorkerResolver for AttemptPeers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct Counters {
    distributed: AtomicU64,
    retries: AtomicU64,
    fallbacks: AtomicU64,
}

/// See the module docs.
pub(crate) struct Coordinator {
    peers: Arc<dyn PeerSource>,
    /// The distributed planner with Kiln's codec and split handlers; cloned
    /// per attempt to set that attempt's peers.
    state: SessionState,
    /// Connections to the peers, shared by queries and probes.
    channels: PeerChannels,
    counters: Counters,
    /// Peers found dead, each with the instant until which queries skip it.
    quarantine: Mutex<HashMap<Url, Instant>>,
    quarantine_for: Duration,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

impl Coordinator {
    pub(crate) fn new(
        peers: Arc<dyn PeerSource>,
        codec: KilnPlanCodec,
        target_partitions: usize,
        secret: Option<super::WorkerSecret>,
        quarantine_for: Duration,
    ) -> Self {
        let channels = PeerChannels::new(secret);
        let config = SessionConfig::new().with_target_partitions(target_partitions);
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_distributed_worker_resolver(AttemptPeers(Vec::new()))
            .with_distributed_channel_resolver(channels.clone())
            .with_distributed_planner()
            .with_distributed_user_codec(codec)
            .with_distributed_desired_task_count_handler(split::desired_task_count)
            .with_distributed_scale_up_leaf_node_handler(split::scale_up)
            .build();
        Self {
            peers,
            state,
            channels,
            counters: Counters::default(),
            quarantine: Mutex::default(),
            quarantine_for,
        }
    }

    fn quarantined(&self) -> std::sync::MutexGuard<'_, HashMap<Url, Instant>> {
        let mut quarantine = self.quarantine.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        quarantine.retain(|_, until| *until > now);
        quarantine
    }

    pub(crate) fn stats(&self) -> DistributedStats {
        let c = &self.counters;
        DistributedStats {
            distributed: c.distributed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            quarantined: self.quarantined().len(),
        }
    }

    /// Runs `df` over the peers; see the module docs.
    pub(crate) async fn collect(
        &self,
        df: DataFrame,
        what: &str,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        let mut dropped: HashSet<Url> = HashSet::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let peers: Vec<Url> = {
                let quarantined = self.quarantined();
                self.peers
                    .peers()
                    .into_iter()
                    .filter(|u| !dropped.contains(u) && !quarantined.contains_key(u))
                    .collect()
            };
            if peers.is_empty() {
                break;
            }
            let err = match self.attempt(&df, what, peers.clone()).await {
                Ok(batches) => {
                    self.counters.distributed.fetch_add(1, Ordering::Relaxed);
                    return Ok(batches);
                }
                Err(e) => e,
            };
            let dead = self.unanswering(&peers).await;
            if dead.is_empty() {
                // Every peer is up: the failure is the query's own.
                return Err(err.into());
            }
            tracing::warn!(
                query = what,
                attempt,
                error = %err,
                dead = ?dead.iter().map(Url::as_str).collect::<Vec<_>>(),
                quarantine = ?self.quarantine_for,
                "querier peers stopped answering; retrying without them (every query skips them for the quarantine)"
            );
            metrics::counter!(PEERS_DROPPED_TOTAL).increment(dead.len() as u64);
            let until = Instant::now() + self.quarantine_for;
            self.quarantined()
                .extend(dead.iter().map(|url| (url.clone(), until)));
            dropped.extend(dead);
            if attempt < MAX_ATTEMPTS {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(RETRIES_TOTAL).increment(1);
            }
        }
        tracing::warn!(
            query = what,
            dropped = dropped.len(),
            "no querier peer left for this query; running it in process"
        );
        self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(FALLBACKS_TOTAL).increment(1);
        crate::engine::execute_local(df, what).await
    }

    /// One distributed run of `df` over `peers`.
    async fn attempt(
        &self,
        df: &DataFrame,
        what: &str,
        peers: Vec<Url>,
    ) -> Result<Vec<RecordBatch>, DataFusionError> {
        let mut state = self.state.clone();
        state
            .config_mut()
            .set_distributed_worker_resolver(AttemptPeers(at_least_two(peers)));
        let plan = state.create_physical_plan(df.logical_plan()).await?;
        tracing::debug!(query = what, plan = %displayable(plan.as_ref()).indent(true), "distributed physical plan");
        collect(plan, state.task_ctx()).await
    }

    /// The peers of `peers` that do not answer `GetWorkerInfo` in time.
    async fn unanswering(&self, peers: &[Url]) -> Vec<Url> {
        let probes = peers.iter().map(|url| async move {
            let probe = async {
                let mut client = self.channels.get_worker_client_for_url(url).await?;
                client.get_worker_info(GetWorkerInfoRequest {}).await
            };
            match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                Ok(Ok(_)) => None,
                _ => Some(url.clone()),
            }
        });
        futures::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}
