//! The compactor's settings, as plain data (the server maps its `[compactor]`
//! and `[retention]` sections onto them).

use crate::CompactorError;
use kiln_block::WriterConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// How the compactor plans, merges, retains and deletes.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    /// Time between two runs of [`crate::Compactor::run`] (`compactor.interval`).
    pub interval: Duration,
    /// How long the objects of a block stay after it left the metastore, so
    /// queries that listed it finish (`compactor.deletion_grace`).
    pub deletion_grace: Duration,
    /// How old (by its ULID timestamp) an unreferenced block folder must be
    /// before garbage collection marks it: longer than any upload-to-register
    /// delay (`compactor.gc_grace`).
    pub gc_grace: Duration,
    /// A window is compacted only once `window end + settle_delay <= now`,
    /// so a window still receiving level-0 blocks is not compacted again and
    /// again (`compactor.settle_delay`).
    pub settle_delay: Duration,
    /// Window of level `i + 1`: blocks of level `i` falling in one window of
    /// `level_windows[i]` merge into one block of level `i + 1`. Each must be
    /// a multiple of the one before (`compactor.level_windows`).
    pub level_windows: Vec<Duration>,
    /// Most source blocks one job merges (the k-way merge holds a row group
    /// of each, so this bounds a job's memory); a window with more blocks
    /// gets one output per job, merged again one level up
    /// (`compactor.max_sources_per_job`).
    pub max_sources_per_job: usize,
    /// Output blocks of this level and above get rollup tables
    /// (`compactor.rollup_from_level`; design §3 says 2).
    pub rollup_from_level: u32,
    /// Layout of the merged blocks (default [`WriterConfig::compacted`]).
    pub writer: WriterConfig,
    /// How long each tenant's data is kept.
    pub retention: RetentionPolicy,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            interval: Duration::from_secs(30),
            deletion_grace: Duration::from_secs(5 * MIN),
            gc_grace: Duration::from_secs(60 * MIN),
            settle_delay: Duration::from_secs(MIN),
            level_windows: vec![
                Duration::from_secs(10 * MIN),
                Duration::from_secs(120 * MIN),
                Duration::from_secs(24 * 60 * MIN),
            ],
            max_sources_per_job: 64,
            rollup_from_level: 2,
            writer: WriterConfig::compacted(),
            retention: RetentionPolicy::default(),
        }
    }
}

impl CompactorConfig {
    /// Checks the cross-field rules: windows non-zero, increasing, nested.
    pub fn validate(&self) -> Result<(), CompactorError> {
        let mut previous: Option<u128> = None;
        for (i, w) in self.level_windows.iter().enumerate() {
            let ns = w.as_nanos();
            if ns == 0 || ns > i64::MAX as u128 {
                return Err(CompactorError::Config(format!(
                    "level window {i} ({w:?}) must be between 1ns and {:?}",
                    Duration::from_nanos(i64::MAX as u64)
                )));
            }
            if let Some(p) = previous
                && (ns <= p || ns % p != 0)
            {
                return Err(CompactorError::Config(format!(
                    "level window {i} ({w:?}) must be a larger multiple of the one before ({:?})",
                    Duration::from_nanos(p as u64)
                )));
            }
            previous = Some(ns);
        }
        if self.max_sources_per_job < 2 {
            return Err(CompactorError::Config(
                "max_sources_per_job must be at least 2".into(),
            ));
        }
        if self.interval.is_zero() {
            return Err(CompactorError::Config(
                "interval must be greater than 0s".into(),
            ));
        }
        Ok(())
    }

    /// Window of level `level + 1` in nanoseconds, if `level` is compacted.
    pub(crate) fn window_ns(&self, level: u32) -> Option<i64> {
        let w = self.level_windows.get(level as usize)?;
        i64::try_from(w.as_nanos()).ok()
    }

    /// Number of levels that are merged into a higher one.
    pub(crate) fn compacted_levels(&self) -> u32 {
        self.level_windows.len() as u32
    }
}

/// Retention per tenant (`retention.period` and per-tenant overrides).
/// A period of zero keeps data forever.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The period of tenants without an override.
    pub default: Duration,
    /// Tenant → its own period.
    pub tenants: BTreeMap<String, Duration>,
}

impl RetentionPolicy {
    /// The retention period of `tenant` (zero = forever).
    pub fn period_for(&self, tenant: &str) -> Duration {
        self.tenants.get(tenant).copied().unwrap_or(self.default)
    }
}

pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_windows_must_nest() {
        CompactorConfig::default().validate().unwrap();
        let mins = |m: &[u64]| m.iter().map(|m| Duration::from_secs(m * 60)).collect();
        for bad in [
            mins(&[10, 25]),
            mins(&[10, 10]),
            mins(&[0]),
            mins(&[60, 30]),
        ] {
            let c = CompactorConfig {
                level_windows: bad,
                ..Default::default()
            };
            assert!(matches!(c.validate(), Err(CompactorError::Config(_))));
        }
        let c = CompactorConfig {
            level_windows: vec![],
            ..Default::default()
        };
        c.validate().unwrap();
        let r = RetentionPolicy {
            default: Duration::from_secs(1),
            tenants: [("a".to_string(), Duration::ZERO)].into(),
        };
        assert_eq!(r.period_for("a"), Duration::ZERO);
        assert_eq!(r.period_for("b"), Duration::from_secs(1));
    }
}
