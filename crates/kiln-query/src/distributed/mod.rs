//! Distributed execution: a query-frontend runs the flame-graph and
//! SelectSeries plans with `datafusion-distributed`, its scans and partial
//! aggregates on querier peers; each querier serves a worker.
//!
//! ```text
//!  frontend: DataFusionEngine::distributed(.., PeerSource)
//!     plan (metastore + postings, in process) ─► DataFrame (same as in process)
//!     ─► Coordinator: distributed physical plan over peers()
//!          Final aggregate / join probe on the frontend
//!          ◄── NetworkCoalesce / NetworkShuffle ──
//!     queriers: KilnWorker (worker_service) ─► Partial aggregate ◄─ BlockScanExec(its blocks)
//!  peer failure: probe peers, drop the silent ones, retry (≤ 3 attempts), then in process
//! ```
//!
//! Parts: [`peers`](PeerSource) (where the queriers are), `split` (how a
//! `BlockScanExec` spreads over tasks), `coordinator` (planning, retries,
//! fallback), `worker` (the querier side), `auth` (the secret worker calls
//! carry). Label, series and profile-type
//! queries read block metadata and indexes and stay on the frontend.

mod auth;
mod channels;
mod coordinator;
mod peers;
mod split;
mod worker;

pub use auth::{WORKER_AUTH_HEADER, WorkerSecret};
pub(crate) use coordinator::Coordinator;
pub use coordinator::DistributedStats;
pub use datafusion_distributed::Worker;
pub use peers::{DnsPeers, PeerSource, StaticPeers};
pub use url::Url;
pub use worker::{KilnWorker, WORKER_PATH_PREFIX, worker_service};

/// Metric: distributed attempts repeated because a peer stopped answering.
pub const RETRIES_TOTAL: &str = "kiln_query_distributed_retries_total";
/// Metric: peers dropped from a query because they stopped answering.
pub const PEERS_DROPPED_TOTAL: &str = "kiln_query_distributed_peers_dropped_total";
/// Metric: distributed queries run in process because no peer was left.
pub const FALLBACKS_TOTAL: &str = "kiln_query_distributed_fallbacks_total";
/// Metric: plan fragments (tasks) a querier's worker has received.
pub const WORKER_TASKS_TOTAL: &str = "kiln_query_worker_tasks_total";

/// Help texts of the distributed metrics (part of
/// [`crate::describe_metrics`]).
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        RETRIES_TOTAL,
        "Distributed query attempts repeated on the remaining peers after a querier peer stopped answering."
    );
    metrics::describe_counter!(
        PEERS_DROPPED_TOTAL,
        "Querier peers dropped from a query because they did not answer a liveness probe after a failure."
    );
    metrics::describe_counter!(
        FALLBACKS_TOTAL,
        "Distributed queries run in the frontend's own process because no querier peer was left."
    );
    metrics::describe_counter!(
        WORKER_TASKS_TOTAL,
        "Plan fragments (tasks) this querier's worker received from frontends."
    );
}
