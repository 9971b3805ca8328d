//! `[compactor]`: how blocks are merged, rolled up, retained and deleted
//! (design §3, §5), and the per-tenant `retention_period` limit.
//!
//! The level windows are one string, `"10m,2h,1d"`, so that they read the
//! same in `kiln.toml`, `KILN_COMPACTOR__LEVEL_WINDOWS` and flags; a TOML
//! array of durations is accepted too.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[compactor]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// How often the compactor plans and runs jobs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long replaced or expired blocks' objects stay after they left
    /// the metastore, so running queries finish.
    #[serde(with = "humantime_serde")]
    pub deletion_grace: Duration,
    /// How old an unreferenced block folder must be before it is collected.
    #[serde(with = "humantime_serde")]
    pub gc_grace: Duration,
    /// A window is compacted once its end plus this has passed.
    #[serde(with = "humantime_serde")]
    pub settle_delay: Duration,
    /// Window of levels 1, 2, 3…: each a multiple of the one before.
    pub level_windows: LevelWindows,
    /// Most blocks one compaction job merges (bounds its memory).
    pub max_sources_per_job: usize,
    /// Blocks from this level up get 1-minute and 1-hour rollups.
    pub rollup_from_level: u32,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            deletion_grace: Duration::from_secs(5 * 60),
            gc_grace: Duration::from_secs(3600),
            settle_delay: Duration::from_secs(60),
            level_windows: LevelWindows(vec![
                Duration::from_secs(10 * 60),
                Duration::from_secs(2 * 3600),
                Duration::from_secs(24 * 3600),
            ]),
            max_sources_per_job: 64,
            rollup_from_level: 2,
        }
    }
}

impl CompactorConfig {
    /// Why the section is inconsistent, if it is: `(key, message)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.interval.is_zero() {
            return Some(("compactor.interval", "must be greater than 0s".into()));
        }
        if self.max_sources_per_job < 2 {
            return Some(("compactor.max_sources_per_job", "must be at least 2".into()));
        }
        let mut previous: Option<Duration> = None;
        for w in &self.level_windows.0 {
            if w.is_zero() {
                return Some((
                    "compactor.level_windows",
                    "a window must be greater than 0s".into(),
                ));
            }
            if let Some(p) = previous
                && (*w <= p || w.as_nanos() % p.as_nanos() != 0)
            {
                return Some((
                    "compactor.level_windows",
                    format!(
                        "{} is not a larger multiple of {}",
                        humantime::format_duration(*w),
                        humantime::format_duration(p)
                    ),
                ));
            }
            previous = Some(*w);
        }
        None
    }
}

/// The windows of levels 1, 2, 3…, written `"10m,2h,1d"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelWindows(pub Vec<Duration>);

impl fmt::Display for LevelWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for LevelWindows {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self(Vec::new()));
        }
        s.split(',')
            .map(|part| {
                humantime::parse_duration(part.trim())
                    .map_err(|e| format!("bad level window {part:?}: {e}"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl Serialize for LevelWindows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LevelWindows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::One(s) => s,
            Raw::Many(v) => v.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A tenant's `retention_period`: `"inherit"` (use `[retention] period`) or
/// a duration (`"0s"` keeps the tenant's data forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetentionOverride {
    #[default]
    Inherit,
    Period(Duration),
}

const INHERIT: &str = "inherit";

impl Serialize for RetentionOverride {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RetentionOverride::Inherit => serializer.serialize_str(INHERIT),
            RetentionOverride::Period(d) => serializer.collect_str(&humantime::format_duration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for RetentionOverride {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.trim() == INHERIT {
            return Ok(RetentionOverride::Inherit);
        }
        humantime::parse_duration(s.trim())
            .map(RetentionOverride::Period)
            .map_err(|e| {
                serde::de::Error::custom(format!("expected \"inherit\" or a duration: {e}"))
            })
    }
}
