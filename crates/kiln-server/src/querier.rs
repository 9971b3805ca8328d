//! The read API: `querier.v1.QuerierService` and the HTTP render APIs,
//! answered from a [`QueryEngine`].
//!
//! ```text
//!  POST /querier.v1.QuerierService/<Method> ─► rpc (Connect | gRPC | gRPC-Web) ─┐
//!  GET  /pyroscope/{render,render-diff,label-values} ─► render ──────────────────┤
//!                                                                                ▼
//!   Querier: validate (selector, profile type, range vs. lookback and length,
//!            max_nodes, step, group_by) ─► ProfileQuery / SeriesQuery / LabelsQuery
//!            ─► QueryEngine (kiln-query: DataFusion over the tenant's blocks)
//!            ─► encode off the I/O threads: flame graph │ tree bytes │ pprof │ diff
//! ```
//!
//! Parts:
//! * `validate`: field checks with `invalid_argument` messages naming the
//!   field and the problem.
//! * `select`: the profile-reading RPCs (SelectMergeStacktraces,
//!   SelectMergeProfile, SelectMergeSpanProfile, SelectSeries, Diff).
//! * `labels`: ProfileTypes, LabelNames, LabelValues, Series, GetProfileStats.
//! * `render`: `/pyroscope/render`, `/pyroscope/render-diff` and
//!   `/pyroscope/label-values`, built on the same handlers.
//!
//! Invariants:
//! * Every engine call carries the request's tenant (`RequestContext.tenant`,
//!   `anonymous` when multi-tenancy is off): a query never names another
//!   tenant's data.
//! * The profile type is never folded into the selector: it travels as
//!   `ProfileQuery.profile_type` and the engine ANDs it with the matchers.
//! * Engine errors keep their class: `InvalidArgument` stays
//!   `invalid_argument`, storage failures become `internal`/`unavailable`.

mod labels;
mod render;
mod select;
mod validate;

use std::sync::Arc;

use kiln_model::clock::ClockRef;
use kiln_query::{QueryEngine, QueryError};

use crate::config::{KilnConfig, Limits};
use crate::error::{ApiError, Code};
use crate::rpc::{RequestContext, RpcRouter};

pub(crate) use render::routes;

/// The `/package.Service/` prefix of every query RPC path.
pub const QUERIER_SERVICE: &str = "/querier.v1.QuerierService/";

/// Validates query requests and answers them from the engine; shared by the
/// RPCs and the HTTP render routes.
#[derive(Debug)]
pub(crate) struct Querier {
    engine: Arc<dyn QueryEngine>,
    config: Arc<KilnConfig>,
    /// Source of "now" for the lookback limit and `now-1h` in render.
    clock: ClockRef,
}

impl Querier {
    pub(crate) fn new(
        engine: Arc<dyn QueryEngine>,
        config: Arc<KilnConfig>,
        clock: ClockRef,
    ) -> Self {
        Self {
            engine,
            config,
            clock,
        }
    }

    fn limits(&self, tenant: &str) -> &Limits {
        self.config.limits_for(tenant)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ns().div_euclid(1_000_000)
    }
}

/// Registers one RPC: `$method` on `QUERIER_SERVICE`, answered by
/// `Querier::$handler(&tenant, request)`.
macro_rules! register_rpc {
    ($router:expr, $querier:expr, $method:literal, $handler:ident) => {{
        let querier = $querier.clone();
        $router.unary(
            concat!("/querier.v1.QuerierService/", $method),
            move |ctx: RequestContext, request| {
                let querier = querier.clone();
                async move { querier.$handler(&ctx.tenant, request).await }
            },
        )
    }};
}

/// Registers every public `querier.v1.QuerierService` RPC.
pub(crate) fn register(router: RpcRouter, querier: Arc<Querier>) -> RpcRouter {
    let router = register_rpc!(router, querier, "ProfileTypes", profile_types);
    let router = register_rpc!(router, querier, "LabelValues", label_values);
    let router = {
        // LabelNames also looks at `Accept` (UTF-8 label names, spec §2.7).
        let querier = querier.clone();
        router.unary(
            "/querier.v1.QuerierService/LabelNames",
            move |ctx: RequestContext, request| {
                let querier = querier.clone();
                async move {
                    let utf8 = labels::accepts_utf8_label_names(&ctx.headers);
                    querier.label_names(&ctx.tenant, utf8, request).await
                }
            },
        )
    };
    let router = register_rpc!(router, querier, "Series", series);
    let router = register_rpc!(
        router,
        querier,
        "SelectMergeStacktraces",
        select_merge_stacktraces
    );
    let router = register_rpc!(
        router,
        querier,
        "SelectMergeSpanProfile",
        select_merge_span_profile
    );
    let router = register_rpc!(router, querier, "SelectMergeProfile", select_merge_profile);
    let router = register_rpc!(router, querier, "SelectSeries", select_series);
    let router = register_rpc!(router, querier, "SelectHeatmap", select_heatmap);
    let router = register_rpc!(router, querier, "Diff", diff);
    let router = register_rpc!(router, querier, "GetProfileStats", get_profile_stats);
    register_rpc!(router, querier, "AnalyzeQuery", analyze_query)
}

/// The engine's errors as API errors.
pub(crate) fn query_error(err: QueryError) -> ApiError {
    let code = match &err {
        QueryError::InvalidArgument(_) => Code::InvalidArgument,
        QueryError::Meta(_) => Code::Unavailable,
        // Block, DataFusion, Internal and whatever the engine adds later.
        _ => Code::Internal,
    };
    ApiError::new(code, err.to_string())
}

/// Runs CPU-heavy encoding (flame graphs of up to a million nodes, pprof
/// export, diffs) on the blocking pool instead of an I/O thread.
pub(crate) async fn off_io<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("encoding task failed: {e}")))
}

#[cfg(test)]
mod tests;
