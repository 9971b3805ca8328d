//! The ingester role: the buffered write path and its flusher task.

use anyhow::Context;
use kiln_ingest::{IngestService, Ingester, IngesterConfig};
use kiln_meta::Metastore;
use kiln_model::clock::SystemClock;
use kiln_server::{IngestSink, KilnConfig, PushSink, ingest_limits};
use object_store::ObjectStore;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running ingester: the push sink the port serves, and its flusher.
pub struct IngesterRole {
    pub sink: Arc<dyn PushSink>,
    stop: oneshot::Sender<()>,
    flusher: tokio::task::JoinHandle<()>,
}

impl IngesterRole {
    /// Builds the ingester over `store` and `metastore` and starts flushing.
    pub fn start(
        config: &Arc<KilnConfig>,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
    ) -> Self {
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
        let (stop, stopped) = oneshot::channel::<()>();
        let flusher =
            tokio::spawn(async move { ingester.run(async { stopped.await.unwrap_or(()) }).await });
        Self {
            sink: Arc::new(IngestSink::new(service)),
            stop,
            flusher,
        }
    }

    /// Flushes the last buffers and stops. Call after the port closed: the
    /// flusher outlives the HTTP server, so requests still draining at
    /// shutdown get their flush (and their acknowledgement).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.flusher.await.context("flusher task failed")
    }
}
