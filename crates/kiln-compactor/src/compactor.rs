//! The compactor loop: retention, compaction, garbage collection and
//! deferred deletion, once per `interval`, on the injected clock.
//!
//! ```text
//!  run_once():
//!    for tenant in metastore.tenants():
//!       try_lease(tenant, "compaction") ─► held by another compactor: skip the tenant
//!       retention  ─► blocks older than the cutoff: mark, metastore.delete
//!       for level in 0..levels:
//!          plan_level(list_blocks) ─► jobs, small first
//!          each job: merge (upload outputs) ─► mark sources ─► metastore.replace
//!    for tenant in tenants of the store:
//!       gc        ─► unreferenced block folders past gc_grace: mark
//!       deletion  ─► markers past deletion_grace, block unregistered: delete objects
//! ```
//!
//! Several compactors may share one metastore (PostgreSQL): each takes the
//! tenant's lease before its retention and compaction and gives it back
//! after, so a tenant is worked on by one compactor at a time. A lease that
//! outlives its compactor (a crash) expires after [`Compactor::lease_ttl`].
//! Leases only avoid duplicate work: `metastore.replace` keeps the index
//! correct even if two compactors race.
//!
//! A failed job is logged, counted and left for the next run; other jobs go
//! on. Any prefix of a run's writes is a safe state (see `failpoint`), so
//! cancelling a run at any await point — a shutdown, a crash — is harmless.

use crate::config::{CompactorConfig, nanos};
use crate::failpoint::{Failpoint, Failpoints};
use crate::merge::{self, MergeContext};
use crate::plan::{self, Job};
use crate::{CompactorError, deletion, gc, metrics, retention};
use kiln_meta::Metastore;
use kiln_model::clock::ClockRef;
use object_store::ObjectStore;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ulid::Ulid;

/// The lease job under which a compactor works on one tenant.
pub const TENANT_LEASE_JOB: &str = "compaction";

/// Shortest lease on a tenant (long intervals get four intervals).
const MIN_LEASE_TTL: Duration = Duration::from_secs(600);

/// Merges blocks, enforces retention and deletes what nothing references.
pub struct Compactor {
    config: CompactorConfig,
    store: Arc<dyn ObjectStore>,
    metastore: Arc<dyn Metastore>,
    clock: ClockRef,
    failpoints: Failpoints,
    /// Who this compactor is to the metastore's leases; unique per instance.
    owner: String,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one [`Compactor::run_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Jobs whose swap committed.
    pub jobs_run: u64,
    /// Jobs that failed (errors in [`RunReport::errors`]); retried next run.
    pub jobs_failed: u64,
    /// Source blocks swapped out by compaction.
    pub blocks_compacted: u64,
    /// Blocks written by compaction.
    pub blocks_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// (tenant, block) removed from the metastore by retention.
    pub expired: Vec<(String, Ulid)>,
    /// (tenant, block) folders marked as orphans.
    pub orphans: Vec<(String, Ulid)>,
    /// Blocks whose objects were deleted, and how many objects.
    pub blocks_deleted: u64,
    pub objects_deleted: u64,
    pub errors: Vec<String>,
}

impl Compactor {
    /// A compactor over `store` and `metastore`, reading time from `clock`.
    pub fn new(
        config: CompactorConfig,
        store: Arc<dyn ObjectStore>,
        metastore: Arc<dyn Metastore>,
        clock: ClockRef,
    ) -> Result<Self, CompactorError> {
        config.validate()?;
        Ok(Self {
            config,
            store,
            metastore,
            clock,
            failpoints: Failpoints::default(),
            owner: format!("compactor-{}", Ulid::generate()),
        })
    }

    pub fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// This compactor's name in the metastore's leases.
    pub fn lease_owner(&self) -> &str {
        &self.owner
    }

    /// How long a tenant's lease lasts: long enough for a run's work on the
    /// tenant, short enough that a crashed compactor's tenants are taken
    /// over soon.
    pub fn lease_ttl(&self) -> Duration {
        MIN_LEASE_TTL.max(self.config.interval * 4)
    }

    /// Failpoints, for crash tests.
    pub fn failpoints(&self) -> &Failpoints {
        &self.failpoints
    }

    /// Runs [`Self::run_once`] every `interval` until `shutdown` resolves.
    /// A run in progress is dropped at shutdown (safe at any point).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        metrics::describe();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                result = self.run_once() => match result {
                    Ok(report) if report.jobs_failed > 0 => {
                        tracing::warn!(failed = report.jobs_failed, errors = ?report.errors, "compaction jobs failed");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        metrics::run_failed();
                        tracing::warn!(error = %e, "compactor run failed");
                    }
                },
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
        tracing::info!("compactor stopped");
    }

    /// One pass: retention, compaction of every closed window, garbage
    /// collection and due deletions, for every tenant.
    ///
    /// A step that fails for one tenant (a failing store, a refused swap) is
    /// recorded in [`RunReport::errors`] and the pass goes on; only a failed
    /// tenant listing or a fired failpoint ends it with `Err`.
    pub async fn run_once(&self) -> Result<RunReport, CompactorError> {
        let mut report = RunReport::default();
        let tenants = self.metastore.tenants().await?;
        for tenant in &tenants {
            if !self.take_lease(tenant, &mut report).await? {
                continue;
            }
            let result = self.retention(tenant, &mut report).await;
            self.record(tenant, "retention", result, &mut report)?;
            let result = self.compact_tenant(tenant, &mut report).await;
            self.record(tenant, "compaction", result, &mut report)?;
            self.give_back_lease(tenant).await;
        }
        let mut all: BTreeSet<String> = tenants.into_iter().collect();
        match gc::store_tenants(&self.store).await {
            Ok(found) => all.extend(found),
            Err(e) => self.record("*", "listing tenants", Err(e), &mut report)?,
        }
        for tenant in &all {
            let result = self.collect_garbage(tenant, &mut report).await;
            self.record(tenant, "garbage collection", result, &mut report)?;
        }
        Ok(report)
    }

    /// Takes `tenant`'s lease; false when another compactor holds it (or
    /// the metastore failed: recorded, the tenant waits for the next run).
    async fn take_lease(
        &self,
        tenant: &str,
        report: &mut RunReport,
    ) -> Result<bool, CompactorError> {
        let leased = self
            .metastore
            .try_lease(tenant, TENANT_LEASE_JOB, &self.owner, self.lease_ttl())
            .await;
        match leased {
            Ok(true) => Ok(true),
            Ok(false) => {
                tracing::debug!(%tenant, "another compactor holds the tenant's lease; skipping");
                Ok(false)
            }
            Err(e) => {
                self.record(tenant, "lease", Err(e.into()), report)?;
                Ok(false)
            }
        }
    }

    /// Gives `tenant`'s lease back; a failure only delays others until it
    /// expires.
    async fn give_back_lease(&self, tenant: &str) {
        if let Err(error) = self
            .metastore
            .release_lease(tenant, TENANT_LEASE_JOB, &self.owner)
            .await
        {
            tracing::warn!(%tenant, %error, "releasing the tenant's compaction lease failed");
        }
    }

    /// Keeps a step's error in the report, unless it is a failpoint.
    fn record(
        &self,
        tenant: &str,
        step: &str,
        result: Result<(), CompactorError>,
        report: &mut RunReport,
    ) -> Result<(), CompactorError> {
        match result {
            Ok(()) => Ok(()),
            Err(e @ CompactorError::Failpoint(_)) => Err(e),
            Err(e) => {
                tracing::warn!(%tenant, step, error = %e, "compactor step failed");
                report.errors.push(format!("{tenant}: {step}: {e}"));
                Ok(())
            }
        }
    }

    /// Marks orphans, then deletes what is due.
    async fn collect_garbage(
        &self,
        tenant: &str,
        report: &mut RunReport,
    ) -> Result<(), CompactorError> {
        let now = self.clock.now_ns();
        let grace = nanos(self.config.gc_grace);
        let orphans = gc::collect(&self.store, &self.metastore, tenant, grace, now).await?;
        metrics::orphans(orphans.len());
        report
            .orphans
            .extend(orphans.into_iter().map(|id| (tenant.to_string(), id)));
        let grace = nanos(self.config.deletion_grace);
        let deleted = deletion::process(
            &self.store,
            &self.metastore,
            &self.failpoints,
            tenant,
            grace,
            now,
        )
        .await?;
        report.blocks_deleted += deleted.blocks;
        report.objects_deleted += deleted.objects;
        Ok(())
    }

    async fn retention(&self, tenant: &str, report: &mut RunReport) -> Result<(), CompactorError> {
        let period = nanos(self.config.retention.period_for(tenant));
        let now = self.clock.now_ns();
        let expired = retention::apply(
            &self.store,
            &self.metastore,
            &self.failpoints,
            tenant,
            period,
            now,
        )
        .await?;
        metrics::expired(tenant, expired.len());
        report
            .expired
            .extend(expired.into_iter().map(|id| (tenant.to_string(), id)));
        Ok(())
    }

    /// Runs every eligible job of `tenant`, level by level (outputs of one
    /// level can be merged one level up in the same run), then folds
    /// top-level blocks that share a window.
    async fn compact_tenant(
        &self,
        tenant: &str,
        report: &mut RunReport,
    ) -> Result<(), CompactorError> {
        let settle = nanos(self.config.settle_delay);
        let top = self.config.compacted_levels();
        for level in 0..=top {
            let blocks = self
                .metastore
                .list_blocks(tenant, i64::MIN, i64::MAX)
                .await?;
            let jobs = match level.checked_sub(1) {
                // The top level: fold blocks sharing a window.
                Some(below) if level == top => {
                    let window = self.config.window_ns(below).expect("top has a window");
                    plan::plan_top(
                        tenant,
                        blocks,
                        level,
                        window,
                        self.config.max_sources_per_job,
                    )
                }
                _ if level == top => Vec::new(),
                _ => {
                    let window = self.config.window_ns(level).expect("level below top");
                    plan::plan_level(
                        tenant,
                        blocks,
                        level,
                        window,
                        settle,
                        self.clock.now_ns(),
                        self.config.max_sources_per_job,
                    )
                }
            };
            for job in jobs {
                self.run_and_count(&job, report).await?;
            }
        }
        self.record_state(tenant).await
    }

    /// Runs one job and records its outcome; only a failpoint is an `Err`.
    async fn run_and_count(&self, job: &Job, report: &mut RunReport) -> Result<(), CompactorError> {
        let (tenant, level) = (&job.tenant, job.level);
        let started = Instant::now();
        match self.run_job(job).await {
            Ok(outputs) => {
                let bytes_out: u64 = outputs.iter().map(|m| m.total_bytes()).sum();
                let samples: u64 = outputs.iter().map(|m| m.summary.samples).sum();
                let seconds = started.elapsed().as_secs_f64();
                metrics::job(level, true, seconds, job.bytes(), bytes_out, samples);
                report.jobs_run += 1;
                report.blocks_compacted += job.sources.len() as u64;
                report.blocks_written += outputs.len() as u64;
                report.bytes_read += job.bytes();
                report.bytes_written += bytes_out;
                Ok(())
            }
            Err(e @ CompactorError::Failpoint(_)) => Err(e),
            Err(e) => {
                metrics::job(level, false, started.elapsed().as_secs_f64(), 0, 0, 0);
                tracing::warn!(%tenant, level, sources = job.sources.len(), error = %e, "compaction job failed");
                report.jobs_failed += 1;
                report.errors.push(format!("{tenant} level {level}: {e}"));
                Ok(())
            }
        }
    }

    /// Merges, marks the sources, swaps. Outputs are registered only by the
    /// swap, and sources are deleted only later, by the deletion pass.
    async fn run_job(&self, job: &Job) -> Result<Vec<kiln_block::BlockMeta>, CompactorError> {
        let ctx = MergeContext {
            store: &self.store,
            config: &self.config,
            clock: &self.clock,
            failpoints: &self.failpoints,
        };
        let outputs = merge::merge_job(&ctx, job).await?;
        self.failpoints.check(Failpoint::AfterUpload)?;
        let sources: Vec<Ulid> = job.sources.iter().map(|b| b.id).collect();
        let now = self.clock.now_ns();
        deletion::mark(
            &self.store,
            &job.tenant,
            &sources,
            deletion::DeletionReason::Compacted,
            now,
        )
        .await?;
        self.failpoints.check(Failpoint::BeforeSwap)?;
        self.metastore
            .replace(&job.tenant, &sources, outputs.clone())
            .await?;
        tracing::debug!(
            tenant = %job.tenant,
            level = job.level,
            sources = sources.len(),
            outputs = outputs.len(),
            "compaction job committed"
        );
        self.failpoints.check(Failpoint::AfterSwap)?;
        Ok(outputs)
    }

    /// Blocks per level and compaction lag of `tenant`, as gauges.
    async fn record_state(&self, tenant: &str) -> Result<(), CompactorError> {
        let blocks = self
            .metastore
            .list_blocks(tenant, i64::MIN, i64::MAX)
            .await?;
        let now = self.clock.now_ns();
        let settle = nanos(self.config.settle_delay);
        let oldest_pending = (0..self.config.compacted_levels())
            .filter_map(|level| {
                let window = self.config.window_ns(level)?;
                plan::oldest_eligible(&blocks, level, window, settle, now)
            })
            .min();
        let lag = oldest_pending.map_or(0.0, |t| now.saturating_sub(t) as f64 / 1e9);
        let top = self.config.compacted_levels();
        let per_level: Vec<(u32, usize)> = (0..=top)
            .map(|l| (l, blocks.iter().filter(|b| b.level == l).count()))
            .collect();
        metrics::tenant_state(tenant, lag, &per_level);
        Ok(())
    }
}
