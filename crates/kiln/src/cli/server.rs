//! `kiln server`: the roles of `--target` in one process — every role
//! (`all`, the embedded default) or any subset as one process of a fleet
//! sharing a bucket and a PostgreSQL metastore (docs/operations.md,
//! "Running roles as separate processes").
//!
//! Role → what it builds: `ingester` → `ingester.rs` (write path, flusher);
//! `query-frontend` → `frontend.rs` (engine in process or over querier
//! peers, SQL); `querier` → `querier.rs` (distributed worker);
//! `compactor` → `compactor.rs` (its own thread). Every role gets `/ready`
//! (`readiness.rs`) and `/metrics`.

use anyhow::Context;
use kiln_server::config::{Role, Target};
use kiln_server::{Apis, KilnConfig};
use std::path::PathBuf;
use std::sync::Arc;

mod compactor;
mod frontend;
mod ingester;
mod metastore;
mod querier;
mod readiness;
mod roles;
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
    roles::check(&config)?;
    let runs = |role| config.target.runs(role);
    let store = storage::open(&config.storage).await?;
    let metastore = metastore::open(&config.metastore, store.clone()).await?;
    let readiness = readiness::shared_probes(
        store.clone(),
        storage::store_config(&config.storage),
        metastore.clone(),
    );

    // Each role builds only what it serves; `Apis` leaves the rest `None`,
    // and the port answers requests for those with the roles it runs.
    let frontend = if runs(Role::QueryFrontend) {
        Some(frontend::build(&config, store.clone(), metastore.clone(), &readiness).await?)
    } else {
        None
    };
    // `all` answers queries in process: it serves no worker (and keeps no
    // second set of block caches for one).
    let querier_worker = (runs(Role::Querier) && config.target != Target::all())
        .then(|| querier::worker(&config, store.clone()));
    // The compactor role: merges, rollups, retention and garbage collection
    // on its own thread (see server/compactor.rs).
    let compactor = if runs(Role::Compactor) {
        Some(compactor::CompactorThread::start(
            &config,
            store.clone(),
            metastore.clone(),
        )?)
    } else {
        None
    };
    let ingester =
        runs(Role::Ingester).then(|| ingester::IngesterRole::start(&config, store, metastore));

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        target = %roles::describe(&config.target),
        storage = %storage::store_config(&config.storage).describe(),
        "kiln server starting"
    );
    let apis = Apis {
        push: ingester.as_ref().map(|i| i.sink.clone()),
        query: frontend.as_ref().map(|f| f.query.clone()),
        sql: frontend.as_ref().map(|f| f.sql.clone()),
        querier_worker,
        readiness,
    };
    let served = kiln_server::serve_apis(config, listener, apis, shutdown_signal()).await;
    // The flusher outlives the HTTP server: requests still draining at
    // shutdown waited for their flush; now the last buffers are flushed.
    if let Some(ingester) = ingester {
        ingester.stop().await?;
    }
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
