//! A dedicated Tokio runtime for query work, so Parquet decoding, stack
//! resolution and DataFusion operators never run on the server's I/O
//! threads (the IOx "dedicated executor" pattern).

use crate::error::QueryError;
use std::future::Future;

use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct CpuRuntime {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl CpuRuntime {
    pub(crate) fn new(threads: usize) -> Result<Self, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("kiln-query")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Internal(format!("starting the query runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Starts `fut` on the query runtime.
    fn spawn<F>(&self, fut: F) -> Result<tokio::task::JoinHandle<F::Output>, QueryError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| QueryError::Internal("query runtime is shut down".into()))?;
        Ok(runtime.spawn(fut))
    }

    /// Runs `fut` on the query runtime and waits for it from the caller's
    /// runtime. Dropping the returned future (a cancelled request) aborts
    /// the query.
    pub(crate) async fn run<T, F>(&self, fut: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let mut task = AbortOnDrop(self.spawn(fut)?);
        match (&mut task.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(QueryError::Internal(format!("query panicked: {e}"))),
            Err(e) => Err(QueryError::Internal(format!("query was cancelled: {e}"))),
        }
    }
}

impl Drop for CpuRuntime {
    /// `shutdown_background` does not block, so the engine may be dropped
    /// inside another runtime (a plain drop of a runtime would panic there).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The engine's query runtime, for other CPU-heavy work of the same
/// process (SQL execution): one pool of query threads, never the server's
/// I/O threads.
#[derive(Debug, Clone)]
pub struct QueryRuntime(pub(crate) Arc<CpuRuntime>);

impl QueryRuntime {
    /// Starts `fut` on the query runtime; the task is aborted when the
    /// returned guard is dropped (a cancelled request).
    pub fn spawn<F>(&self, fut: F) -> Result<AbortOnDrop<F::Output>, QueryError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(AbortOnDrop(self.0.spawn(fut)?))
    }
}

/// A task handle that aborts its task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
