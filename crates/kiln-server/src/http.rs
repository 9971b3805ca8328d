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
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use kiln_model::clock::SystemClock;
use kiln_query::QueryEngine;
use kiln_sql::SqlEngine;
use tokio::net::TcpListener;

use crate::config::KilnConfig;
use crate::ingest_http;
use crate::metrics;
use crate::otlp;
use crate::push::{self, PushSink};
use crate::querier::{self, Querier};
use crate::rpc::RpcRouter;
use crate::sql_http;

/// Builds the full router. `serve` uses this too; tests and embedders can
/// mount it on their own listener. `/ready` always answers 200 here; under
/// [`serve`] it turns 503 once shutdown begins. Pushes go to `push_sink`;
/// queries (the querier RPCs and `/pyroscope/render*`) to `query_engine`.
pub fn router(
    config: Arc<KilnConfig>,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
) -> Router {
    build(
        config,
        push_sink,
        query_engine,
        None,
        Arc::new(AtomicBool::new(true)),
    )
}

/// Like [`router`], with `POST /api/v1/sql` answered by `sql`.
pub fn router_with_sql(
    config: Arc<KilnConfig>,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    sql: Arc<SqlEngine>,
) -> Router {
    build(
        config,
        push_sink,
        query_engine,
        Some(sql),
        Arc::new(AtomicBool::new(true)),
    )
}

fn build(
    config: Arc<KilnConfig>,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    sql: Option<Arc<SqlEngine>>,
    ready: Arc<AtomicBool>,
) -> Router {
    // Install the recorder before the first request is counted.
    metrics::prometheus_handle();
    let querier = Arc::new(Querier::new(
        query_engine,
        config.clone(),
        Arc::new(SystemClock),
    ));
    let rpcs = push::register(RpcRouter::default(), push_sink.clone());
    let rpcs = otlp::register(rpcs, push_sink.clone());
    let rpcs = querier::register(rpcs, querier.clone());
    let router = rpcs.into_router(config.clone());
    let router = querier::routes(router, querier);
    let router = otlp::routes(router, config.clone(), push_sink.clone());
    let router = match &sql {
        // Flight SQL is streaming gRPC: tonic serves it, not the unary layer.
        Some(engine) => router.route_service(
            &format!("{}{{*method}}", kiln_sql::flight::FLIGHT_PATH_PREFIX),
            kiln_sql::flight::service(engine.clone(), sql_http::flight_tenancy(config.clone())),
        ),
        None => router,
    };
    let router = sql_http::routes(router, config.clone(), sql);
    ingest_http::routes(router, config, push_sink)
        .route(
            "/ready",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
                    }
                }
            }),
        )
        .route("/metrics", get(metrics::render))
        // The web UI owns `/` and `/ui/…` only; API paths never reach it.
        .merge(kiln_ui::router())
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n").into_response() })
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
    serve_inner(config, listener, push_sink, query_engine, None, shutdown).await
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
    serve_inner(
        config,
        listener,
        push_sink,
        query_engine,
        Some(sql),
        shutdown,
    )
    .await
}

async fn serve_inner<F>(
    config: Arc<KilnConfig>,
    listener: TcpListener,
    push_sink: Arc<dyn PushSink>,
    query_engine: Arc<dyn QueryEngine>,
    sql: Option<Arc<SqlEngine>>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let ready = Arc::new(AtomicBool::new(true));
    let app = build(config, push_sink, query_engine, sql, ready.clone());
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
            ready.store(false, Ordering::Release);
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await;
    upkeep.abort();
    result
}
