//! `kiln server`: every role in one process (the embedded default).

use anyhow::Context;
use kiln_ingest::{IngestService, Ingester, IngesterConfig};
use kiln_model::clock::SystemClock;
use kiln_query::{DataFusionEngine, EngineConfig, QueryEngine};
use kiln_server::{IngestSink, KilnConfig, ingest_limits};
use std::path::PathBuf;
use std::sync::Arc;

mod compactor;
mod metastore;
mod storage;

/// Flags override `kiln.toml` and `KILN_*` environment variables.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Configuration file (TOML); see config.example.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address of the one port serving every protocol (default 0.0.0.0:4040).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory of the filesystem store (default ./data); ignored by
    /// the s3, azure and gcs backends.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Roles to run: `all` (default) or a comma-separated list.
    #[arg(long, value_name = "ROLES")]
    target: Option<String>,
}

impl ServerArgs {
    fn flags(&self) -> Vec<(String, String)> {
        let mut flags = Vec::new();
        if let Some(v) = &self.listen {
            flags.push(("server.listen".into(), v.clone()));
        }
        if let Some(v) = &self.data_dir {
            flags.push(("storage.data_dir".into(), v.clone()));
        }
        if let Some(v) = &self.target {
            flags.push(("target".into(), v.clone()));
        }
        flags
    }
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = Arc::new(KilnConfig::load(args.config.as_deref(), args.flags())?);
    let store = storage::open(&config.storage).await?;
    let metastore = metastore::open(&config.metastore, store.clone()).await?;
    // The read path: the same store and metastore the ingester writes to,
    // so a profile is queryable as soon as its push is acknowledged.
    let query_engine: Arc<dyn QueryEngine> = Arc::new(
        DataFusionEngine::new(store.clone(), metastore.clone(), EngineConfig::default())
            .context("starting the query engine")?,
    );
    // SQL (POST /api/v1/sql) reads the same blocks, one tenant per session.
    let sql = Arc::new(kiln_sql::SqlEngine::new(store.clone(), metastore.clone()));
    // The compactor role: merges, rollups, retention and garbage collection
    // on its own thread (see server/compactor.rs).
    let compactor = if config.target.runs(kiln_server::config::Role::Compactor) {
        Some(compactor::CompactorThread::start(
            &config,
            store.clone(),
            metastore.clone(),
        )?)
    } else {
        None
    };
    let ingester = Ingester::new(
        IngesterConfig {
            flush_interval: config.ingester.flush_interval,
            max_buffer_bytes: config.ingester.max_buffer_bytes as usize,
            max_wait: config.ingester.max_wait,
        },
        store,
        metastore,
    );
    let limits_config = config.clone();
    let service = IngestService::new(
        ingester.clone(),
        Arc::new(move |tenant: &str| ingest_limits(limits_config.limits_for(tenant))),
        Arc::new(SystemClock),
    );
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        storage = %storage::store_config(&config.storage).describe(),
        "kiln server starting"
    );

    // The flusher outlives the HTTP server: requests still draining at
    // shutdown wait for their flush, then the last buffers are flushed.
    let (server_done, flusher_stop) = tokio::sync::oneshot::channel::<()>();
    let flusher = tokio::spawn({
        let ingester = ingester.clone();
        async move {
            ingester
                .run(async { flusher_stop.await.unwrap_or(()) })
                .await
        }
    });
    let sink = Arc::new(IngestSink::new(service));
    let served =
        kiln_server::serve_with_sql(config, listener, sink, query_engine, sql, shutdown_signal())
            .await;
    let _ = server_done.send(());
    flusher.await.context("flusher task failed")?;
    if let Some(compactor) = compactor {
        compactor.stop().await;
    }
    tracing::info!("kiln server stopped");
    served.context("serving")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
