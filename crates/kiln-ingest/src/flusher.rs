//! Per-tenant buffers, the flush loop and acknowledgement.

use crate::error::IngestError;
use crate::metrics;
use kiln_meta::Metastore;
use kiln_model::NormalizedProfile;
use object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;

/// How the ingester buffers and flushes.
#[derive(Debug, Clone)]
pub struct IngesterConfig {
    /// Flush every tenant's buffer this often (`ingester.flush_interval`).
    pub flush_interval: Duration,
    /// Bound on buffered plus in-flight bytes (`ingester.max_buffer_bytes`).
    pub max_buffer_bytes: usize,
    /// How long a push waits for buffer room before `Unavailable`.
    pub max_wait: Duration,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            max_buffer_bytes: 64 << 20,
            max_wait: Duration::from_secs(10),
        }
    }
}

type Ack = oneshot::Sender<Result<(), IngestError>>;

/// What one tenant has pushed since its last flush.
#[derive(Default)]
struct TenantBuffer {
    profiles: Vec<NormalizedProfile>,
    bytes: usize,
    acks: Vec<Ack>,
    permits: Vec<OwnedSemaphorePermit>,
}

struct Shared {
    config: IngesterConfig,
    store: Arc<dyn ObjectStore>,
    metastore: Arc<dyn Metastore>,
    /// Byte budget for buffered and in-flight profiles.
    budget: Arc<Semaphore>,
    buffers: Mutex<HashMap<String, TenantBuffer>>,
    /// Wakes the flush loop early when a tenant's buffer is full.
    wake: Notify,
}

/// Buffers normalised profiles per tenant and acknowledges each push once
/// the level-0 block holding it is written and registered.
#[derive(Clone)]
pub struct Ingester {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Ingester {
    pub fn new(
        config: IngesterConfig,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
    ) -> Self {
        let budget = Arc::new(Semaphore::new(config.max_buffer_bytes.max(1)));
        Self {
            shared: Arc::new(Shared {
                config,
                store,
                metastore,
                budget,
                buffers: Mutex::new(HashMap::new()),
                wake: Notify::new(),
            }),
        }
    }

    /// Buffers `profiles` for `tenant` and returns when they are durable
    /// (or the flush failed). `bytes` is the decompressed size, charged
    /// against `max_buffer_bytes`.
    pub async fn ingest(
        &self,
        tenant: &str,
        profiles: Vec<NormalizedProfile>,
        bytes: usize,
    ) -> Result<(), IngestError> {
        if profiles.is_empty() {
            return Ok(());
        }
        let config = &self.shared.config;
        let cost = bytes.clamp(1, config.max_buffer_bytes.max(1));
        let permit = tokio::time::timeout(
            config.max_wait,
            self.shared.budget.clone().acquire_many_owned(cost as u32),
        )
        .await
        .map_err(|_| {
            IngestError::Unavailable(format!(
                "ingest buffers are full (ingester.max_buffer_bytes = {}) and did not drain within {:?}; storage may be slow or failing, retry later",
                config.max_buffer_bytes, config.max_wait
            ))
        })?
        .map_err(|_| IngestError::Unavailable("ingester is shutting down".into()))?;

        let (ack, acked) = oneshot::channel();
        let full = {
            let mut buffers = self.shared.buffers.lock().expect("buffer lock poisoned");
            let buffer = buffers.entry(tenant.to_string()).or_default();
            buffer.profiles.extend(profiles);
            buffer.bytes += cost;
            buffer.acks.push(ack);
            buffer.permits.push(permit);
            metrics::set_buffered(tenant, buffer.bytes);
            buffer.bytes >= config.max_buffer_bytes / 2
        };
        if full {
            self.shared.wake.notify_one();
        }
        acked
            .await
            .map_err(|_| IngestError::Internal("flush was dropped before completing".into()))?
    }

    /// Flushes every tenant's buffer and waits for the flushes to finish.
    pub async fn flush_all(&self) {
        let mut flushes = JoinSet::new();
        self.start_flushes(&mut flushes);
        while flushes.join_next().await.is_some() {}
    }

    /// Runs the flush loop until `shutdown` resolves, then flushes what is
    /// left and waits for every in-flight flush (graceful shutdown).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.shared.config.flush_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flushes = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => self.start_flushes(&mut flushes),
                _ = self.shared.wake.notified() => self.start_flushes(&mut flushes),
                Some(_) = flushes.join_next(), if !flushes.is_empty() => {}
            }
        }
        self.start_flushes(&mut flushes);
        while flushes.join_next().await.is_some() {}
        self.shared.budget.close();
    }

    fn start_flushes(&self, flushes: &mut JoinSet<()>) {
        let drained: Vec<(String, TenantBuffer)> = {
            let mut buffers = self.shared.buffers.lock().expect("buffer lock poisoned");
            buffers
                .drain()
                .filter(|(_, b)| !b.profiles.is_empty())
                .collect()
        };
        for (tenant, buffer) in drained {
            metrics::set_buffered(&tenant, 0);
            let shared = self.shared.clone();
            flushes.spawn(async move { flush(shared, tenant, buffer).await });
        }
    }
}

async fn flush(shared: Arc<Shared>, tenant: String, buffer: TenantBuffer) {
    let TenantBuffer {
        profiles,
        bytes,
        acks,
        permits,
    } = buffer;
    let started = std::time::Instant::now();
    let result = write_and_register(&shared, &tenant, profiles).await;
    metrics::record_flush(started.elapsed(), bytes, result.is_ok());
    match &result {
        Ok(()) => {
            tracing::debug!(%tenant, elapsed = ?started.elapsed(), pushes = acks.len(), "flushed")
        }
        Err(error) => tracing::warn!(%tenant, %error, pushes = acks.len(), "flush failed"),
    }
    for ack in acks {
        let _ = ack.send(result.clone());
    }
    drop(permits);
}

async fn write_and_register(
    shared: &Shared,
    tenant: &str,
    profiles: Vec<NormalizedProfile>,
) -> Result<(), IngestError> {
    let encoder = kiln_block::BlockEncoder::new(tenant, 0);
    let block = tokio::task::spawn_blocking(move || encoder.encode(&profiles))
        .await
        .map_err(|e| IngestError::Internal(format!("block encoding task failed: {e}")))?
        .map_err(|e| IngestError::Internal(format!("encoding block failed: {e}")))?;
    block
        .upload(shared.store.as_ref())
        .await
        .map_err(|e| IngestError::Unavailable(format!("writing block failed: {e}")))?;
    shared
        .metastore
        .register(block.meta)
        .await
        .map_err(|e| IngestError::Unavailable(format!("registering block failed: {e}")))
}

#[cfg(test)]
mod tests;
