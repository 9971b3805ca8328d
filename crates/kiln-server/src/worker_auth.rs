//! The querier's worker route, behind the cluster secret.
//!
//! ```text
//!  /worker.WorkerService/* ─► querier.worker_secret set?
//!      no  ─► the worker
//!      yes ─► `authorization: Bearer <secret>`? ─► the worker
//!             else ─► unauthenticated (grpc-status 16), naming the setting
//! ```
//!
//! A worker reads any tenant's blocks a plan names, so only the cluster's
//! frontends (which share the secret) may send it plans.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use kiln_query::distributed::{KilnWorker, WORKER_AUTH_HEADER, WORKER_PATH_PREFIX, WorkerSecret};

use crate::error::{ApiError, Code};
use crate::rpc;

/// The worker's routes; with `secret`, calls without it are refused.
pub(crate) fn routes(worker: &KilnWorker, secret: Option<WorkerSecret>) -> Router {
    let router = Router::new().route_service(
        &format!("{WORKER_PATH_PREFIX}{{*method}}"),
        worker.worker().into_worker_server(),
    );
    match secret {
        Some(secret) => router.route_layer(middleware::from_fn_with_state(secret, check)),
        None => router,
    }
}

async fn check(State(secret): State<WorkerSecret>, request: Request, next: Next) -> Response {
    if secret.accepts(request.headers().get(WORKER_AUTH_HEADER)) {
        return next.run(request).await;
    }
    let err = ApiError::new(
        Code::Unauthenticated,
        "worker call without this cluster's querier.worker_secret: only query-frontends \
         configured with the same secret may send plans to a querier",
    );
    rpc::error_response(request.headers(), &err)
}
