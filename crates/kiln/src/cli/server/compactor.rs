//! The compactor role inside `kiln server`: configuration mapping and a
//! dedicated thread.
//!
//! Compaction is CPU-bound (Parquet decode and encode), so it runs on its
//! own single-threaded runtime on its own OS thread: it uses at most one
//! core and never delays the I/O runtime that serves pushes and queries.
//! Stopping drops the run in progress, which is safe at any point (every
//! compactor step is crash-safe; leftovers are collected by later runs).

use anyhow::Context;
use kiln_compactor::{Compactor, CompactorConfig, RetentionPolicy};
use kiln_meta::Metastore;
use kiln_model::clock::SystemClock;
use kiln_server::KilnConfig;
use object_store::ObjectStore;
use std::sync::Arc;
use tokio::sync::oneshot;

/// `[compactor]` and retention (global and per tenant) as the compactor's config.
pub fn compactor_config(config: &KilnConfig) -> CompactorConfig {
    let c = &config.compactor;
    CompactorConfig {
        interval: c.interval,
        deletion_grace: c.deletion_grace,
        gc_grace: c.gc_grace,
        settle_delay: c.settle_delay,
        level_windows: c.level_windows.0.clone(),
        max_sources_per_job: c.max_sources_per_job,
        rollup_from_level: c.rollup_from_level,
        retention: RetentionPolicy {
            default: config.retention.period,
            tenants: config
                .overrides
                .keys()
                .map(|t| (t.clone(), config.retention_for(t)))
                .collect(),
        },
        ..CompactorConfig::default()
    }
}

/// The compactor running on its own thread until [`CompactorThread::stop`].
pub struct CompactorThread {
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl CompactorThread {
    pub fn start(
        config: &KilnConfig,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
    ) -> anyhow::Result<Self> {
        let compactor = Compactor::new(
            compactor_config(config),
            store,
            metastore,
            Arc::new(SystemClock),
        )
        .context("configuring the compactor")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the compactor runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kiln-compactor".into())
            .spawn(move || {
                tracing::info!("compactor started");
                runtime.block_on(compactor.run(async {
                    let _ = stopped.await;
                }));
            })
            .context("spawning the compactor thread")?;
        Ok(Self { stop, thread })
    }

    /// Stops the loop (dropping a run in progress) and waits for the thread.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        if let Ok(Err(_)) = tokio::task::spawn_blocking(move || thread.join()).await {
            tracing::error!("compactor thread panicked");
        }
    }
}
