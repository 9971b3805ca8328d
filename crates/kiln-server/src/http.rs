//! The one HTTP port: routes and the server loop.
//!
//! `axum::serve` (features `http1` + `http2`) drives every connection with
//! hyper-util's auto builder, which reads the first bytes to tell an HTTP/2
//! prior-knowledge preface (h2c: gRPC, Connect over HTTP/2) from HTTP/1.1
//! (Connect, gRPC-Web, `/ready`, `/metrics`), so one listener serves all of
//! them; the integration tests check both on the same port.

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use kiln_model::clock::SystemClock;
use kiln_query::QueryEngine;
use kiln_query::distributed::KilnWorker;
use kiln_sql::SqlEngine;
use tokio::net::TcpListener;

use crate::config::KilnConfig;
use crate::ingest_http;
use crate::metrics;
use crate::otlp;
use crate::push::{self, PushSink};
use crate::querier::{self, Querier};
use crate::readiness::Readiness;
use crate::rpc::RpcRouter;
use crate::worker_auth;
use crate::{sql_http, unserved};

/// What one process serves on its port, by role (`--target`). A `None`
/// is an API of a role this process does not run: its paths answer with an
/// `unimplemented` error naming the roles the process runs (`unserved`).
/// `GET /ready` and `GET /metrics` are served whatever the roles.
#[derive(Clone, Default)]
pub struct Apis {
    /// Ingester: Push (Connect/gRPC/gRPC-Web), `/ingest`, OTLP.
    pub push: Option<Arc<dyn PushSink>>,
    /// Query-frontend: `querier.v1.QuerierService`, the render APIs and
    /// the web UI.
    pub query: Option<Arc<dyn QueryEngine>>,
    /// Query-frontend: `POST /api/v1/sql` and Flight SQL.
    pub sql: Option<Arc<SqlEngine>>,
    /// Querier: the `datafusion-distributed` worker that runs the plan
    /// fragments of frontends (`worker.WorkerService`, gRPC).
    pub querier_worker: Option<KilnWorker>,
    /// The dependencies `/ready` waits for; none = always ready.
    pub readiness: Readiness,
}

impl Apis {
    /// Every API of a single-process server (`target = "all"`).
    pub fn all(
        push: Arc<dyn PushSink>,
        query: Arc<dyn QueryEngine>,
        sql: Option<Arc<SqlEngine>>,
    ) -> Self {
        Self {
            push: Some(push),
            query: Some(query),
            sql,
            querier_worker: None,
            readiness: Readiness::new(),
        }
    }
}

/// Builds the full router. `serve` uses this too; tests and embedders can
/// mount it on their own listener. `/ready` always answers 200 here; under
/// [`serve`] it turns 503 once shutdown begins. Pushes go to `push_sink`;
/// queries (the querier RPCs and `/pyroscope/render*`) to `query_engine`.
pub fn router(
    config: Arc<KilnConfig>,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
) -> Router {
    router_for(config, Apis::all(push_sink, query_engine, None))
}

/// Like [`router`], with `POST /api/v1/sql` answered by `sql`.
pub fn router_with_sql(
    config: Arc<KilnConfig>,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    sql: Arc<SqlEngine>,
) -> Router {
    router_for(config, Apis::all(push_sink, query_engine, Some(sql)))
}

/// The router serving `apis`; requests for anything else are refused by
/// `unserved` with the roles of `config.target`.
pub fn router_for(config: Arc<KilnConfig>, apis: Apis) -> Router {
    // Install the recorder before the first request is counted.
    metrics::prometheus_handle();
    let mut rpcs = RpcRouter::default();
    if let Some(sink) = &apis.push {
        rpcs = push::register(rpcs, sink.clone());
        rpcs = otlp::register(rpcs, sink.clone());
    }
    let querier = apis
        .query
        .clone()
        .map(|engine| Arc::new(Querier::new(engine, config.clone(), Arc::new(SystemClock))));
    if let Some(querier) = &querier {
        rpcs = querier::register(rpcs, querier.clone());
    }
    let mut router = rpcs.into_router(config.clone());
    if let Some(sink) = &apis.push {
        router = otlp::routes(router, config.clone(), sink.clone());
        router = ingest_http::routes(router, config.clone(), sink.clone());
    }
    if let Some(querier) = querier {
        router = querier::routes(router, querier);
        // The web UI owns `/` and `/ui/…` only; API paths never reach it.
        router = router.merge(kiln_ui::router());
    }
    if let Some(engine) = &apis.sql {
        // Flight SQL is streaming gRPC: tonic serves it, not the unary layer.
        router = router.route_service(
            &format!("{}{{*method}}", kiln_sql::flight::FLIGHT_PATH_PREFIX),
            kiln_sql::flight::service(engine.clone(), sql_http::flight_tenancy(config.clone())),
        );
    }
    if let Some(worker) = &apis.querier_worker {
        router = router.merge(worker_auth::routes(worker, config.querier.worker_secret()));
    }
    if apis.query.is_some() || apis.sql.is_some() {
        // Without an engine the SQL route answers 501 (an embedder's choice).
        router = sql_http::routes(router, config.clone(), apis.sql.clone());
    }
    let readiness = apis.readiness;
    router
        .route(
            "/ready",
            get(move || std::future::ready(readiness.response())),
        )
        .route("/metrics", get(metrics::render))
        .fallback(unserved::fallback(config.target.clone()))
}

/// Serves every protocol on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (so pushes get their
/// acknowledgement) and returns.
pub async fn serve<F>(
    config: Arc<KilnConfig>,
    listener: TcpListener,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let apis = Apis::all(push_sink, query_engine, None);
    serve_apis(config, listener, apis, shutdown).await
}

/// Like [`serve`], with `POST /api/v1/sql` answered by `sql`.
pub async fn serve_with_sql<F>(
    config: Arc<KilnConfig>,
    listener: TcpListener,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    sql: Arc<SqlEngine>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let apis = Apis::all(push_sink, query_engine, Some(sql));
    serve_apis(config, listener, apis, shutdown).await
}

/// Serves `apis` on `listener` until `shutdown` resolves, like [`serve`].
/// The readiness probes run once before the first request and then in the
/// background; `/ready` turns 503 as soon as shutdown begins.
pub async fn serve_apis<F>(
    config: Arc<KilnConfig>,
    listener: TcpListener,
    apis: Apis,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let readiness = apis.readiness.clone();
    readiness.check_now().await;
    let probing = readiness.spawn_probing();
    let app = router_for(config, apis);
    let upkeep = metrics::spawn_upkeep();
    tracing::info!(addr = %listener.local_addr()?, "serving Connect, gRPC and gRPC-Web");
    // Small unary requests and responses: don't let Nagle delay them.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "setting TCP_NODELAY failed");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            readiness.shutting_down();
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await;
    upkeep.abort();
    probing.abort();
    result
}
