//! `GET /ready`: whether this process can do its job right now.
//!
//! Each role registers a probe per dependency it needs (the object store,
//! the metastore, a query-frontend's querier peers). Probes run once before
//! the port opens and then every [`PROBE_INTERVAL`] in the background, so a
//! readiness request never waits on a dependency and a flood of probes never
//! reaches the bucket or the database. `/ready` answers 200 `ready` when
//! every probe last succeeded, otherwise 503 with one line per failing
//! dependency — and 503 `shutting down` once graceful shutdown began, so a
//! load balancer stops sending work before the port closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// How often probes run after the first time.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// A probe that takes longer than this counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type ProbeFn = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;
/// A probe's last outcome; `None` until it first ran.
type Outcome = Option<Result<(), String>>;

/// The readiness of one process: its probes and their last results.
/// Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    probes: Mutex<Vec<(&'static str, ProbeFn)>>,
    /// Last result per probe, in registration order; `None` = not run yet.
    results: Mutex<Vec<(&'static str, Outcome)>>,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("not_ready", &self.not_ready_reason())
            .finish()
    }
}

impl Readiness {
    /// No probes: ready until shutdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dependency named `name` (it appears in 503 bodies): `probe`
    /// returns `Err(reason)` when the dependency does not answer.
    pub fn add_probe<F, Fut>(&self, name: &'static str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: ProbeFn = Arc::new(move || Box::pin(probe()));
        self.inner.probes.lock().unwrap().push((name, probe));
        self.inner.results.lock().unwrap().push((name, None));
    }

    /// Runs every probe once and records the results.
    pub async fn check_now(&self) {
        let probes = self.inner.probes.lock().unwrap().clone();
        let outcomes = futures::future::join_all(probes.iter().map(|(name, probe)| async move {
            let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
            };
            (*name, outcome)
        }))
        .await;
        let mut results = self.inner.results.lock().unwrap();
        for (name, outcome) in outcomes {
            if let Some(slot) = results.iter_mut().find(|(n, _)| *n == name) {
                if let (Some(Ok(())), Err(reason)) = (&slot.1, &outcome) {
                    tracing::warn!(dependency = name, %reason, "no longer ready");
                }
                slot.1 = Some(outcome);
            }
        }
    }

    /// Re-runs the probes every [`PROBE_INTERVAL`] until the task is aborted.
    pub(crate) fn spawn_probing(&self) -> tokio::task::JoinHandle<()> {
        let readiness = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_INTERVAL);
            tick.tick().await; // the first tick is immediate: already checked
            loop {
                tick.tick().await;
                readiness.check_now().await;
            }
        })
    }

    /// From now on `/ready` answers 503 `shutting down`.
    pub(crate) fn shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
    }

    /// `None` when ready; otherwise why not, one line per reason.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Some("shutting down".to_string());
        }
        let results = self.inner.results.lock().unwrap();
        let reasons: Vec<String> = results
            .iter()
            .filter_map(|(name, result)| match result {
                Some(Ok(())) => None,
                Some(Err(reason)) => Some(format!("{name}: {reason}")),
                None => Some(format!("{name}: not checked yet")),
            })
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("\n"))
    }

    /// The `/ready` answer.
    pub(crate) fn response(&self) -> Response {
        match self.not_ready_reason() {
            None => (StatusCode::OK, "ready\n").into_response(),
            Some(reason) => {
                (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_only_when_every_probe_answered() {
        let readiness = Readiness::new();
        assert_eq!(readiness.not_ready_reason(), None, "no probes: ready");

        let store_up = Arc::new(AtomicBool::new(true));
        let up = store_up.clone();
        readiness.add_probe("object store", move || {
            let up = up.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("bucket unreachable".to_string())
                }
            }
        });
        readiness.add_probe("metastore", || async { Ok(()) });
        assert_eq!(
            readiness.not_ready_reason().as_deref(),
            Some("object store: not checked yet\nmetastore: not checked yet")
        );

        readiness.check_now().await;
        assert_eq!(readiness.not_ready_reason(), None);
        assert_eq!(readiness.response().status(), StatusCode::OK);

        store_up.store(false, Ordering::SeqCst);
        readiness.check_now().await;
        assert_eq!(
            readiness.not_ready_reason().as_deref(),
            Some("object store: bucket unreachable")
        );
        assert_eq!(
            readiness.response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );

        store_up.store(true, Ordering::SeqCst);
        readiness.check_now().await;
        assert_eq!(readiness.not_ready_reason(), None);
        readiness.shutting_down();
        assert_eq!(
            readiness.not_ready_reason().as_deref(),
            Some("shutting down")
        );
    }
}
