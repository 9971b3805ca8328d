//! One layered configuration for every role.
//!
//! ```text
//!  built-in defaults ─► kiln.toml (--config) ─► KILN_<SECTION>__<KEY> env ─► flags
//!        (lowest)                                                         (highest)
//! ```
//!
//! Each layer is a TOML table merged over the one before (see `config/layers.rs`);
//! the result is deserialized once into [`KilnConfig`], with unknown keys
//! rejected and every error naming the key and where it was set. Per-tenant
//! `[overrides.<tenant>]` tables are then merged over the final `[limits]`
//! table, so an environment change to a global limit still reaches tenants
//! that do not override that key. `config.example.toml` at the repository
//! root documents every key; a test keeps it equal to the defaults.

mod compactor;
mod layers;
mod limits;
mod metastore;
mod querier;
mod storage;
mod target;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use toml::{Table, Value};

pub use compactor::{CompactorConfig, LevelWindows, RetentionOverride};
pub use limits::Limits;
pub use metastore::{MetastoreBackend, MetastoreConfig};
pub use querier::{PeerDiscovery, QuerierConfig};
pub use storage::{AzureStorage, GcsStorage, S3Storage, StorageBackend, StorageConfig};
pub use target::{Role, Target};

use layers::{LIMITS, OVERRIDES, Provenance};

/// The whole configuration of a Kiln process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KilnConfig {
    /// Roles this process runs: `all` or a comma-separated list.
    pub target: Target,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub metastore: MetastoreConfig,
    pub auth: AuthConfig,
    pub ingester: IngesterConfig,
    /// Limits for every tenant without an override.
    pub limits: Limits,
    pub retention: RetentionConfig,
    pub compactor: CompactorConfig,
    /// Querier peers of a query-frontend (empty: queries run in process).
    pub querier: QuerierConfig,
    /// Fully resolved limits of tenants that have an `[overrides.<tenant>]`
    /// table. Filled by the loader, not by serde, because each one is the
    /// final `[limits]` with the tenant's keys merged over it.
    #[serde(skip)]
    pub overrides: BTreeMap<String, Limits>,
}

/// `[server]`: the one listening port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP port serving every protocol.
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 4040)),
        }
    }
}

/// `[auth]`: tenancy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// When false every request is tenant `anonymous` and `X-Scope-OrgID`
    /// is ignored; when true the header is required.
    pub multitenancy_enabled: bool,
}

/// `[ingester]`: buffering before a level-0 block is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// How often per-tenant buffers are flushed to a level-0 block.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Total buffered bytes that trigger an early flush and bound memory.
    pub max_buffer_bytes: u64,
    /// How long a push waits for buffer space before failing `unavailable`.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            max_buffer_bytes: 64 * 1024 * 1024,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// `[retention]`: how long blocks are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Blocks older than this are deleted; `0s` keeps data forever.
    /// A tenant's `retention_period` limit overrides it.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
}

/// Where a configuration comes from, lowest precedence first after the
/// built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// A `kiln.toml`; `None` means defaults plus env plus flags.
    pub file: Option<PathBuf>,
    /// Environment variables (only `KILN_*` ones are read).
    pub env: Vec<(String, String)>,
    /// Flag values as `(dotted key, value)`, e.g. `("server.listen", "…")`.
    pub flags: Vec<(String, String)>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("unknown config key {key:?} (from {origin})")]
    UnknownKey { key: String, origin: String },
    #[error("invalid value for config key {key:?} (from {origin}): {message}")]
    InvalidValue {
        key: String,
        origin: String,
        message: String,
    },
}

impl KilnConfig {
    /// Loads defaults < `file` < the process environment < `flags`.
    pub fn load(file: Option<&Path>, flags: Vec<(String, String)>) -> Result<Self, ConfigError> {
        Self::from_sources(ConfigSources {
            file: file.map(Path::to_path_buf),
            env: std::env::vars().collect(),
            flags,
        })
    }

    /// Parses one TOML document over the defaults (no env, no flags).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let table = parse_toml(text, Path::new("<string>"))?;
        Self::from_layers(
            Some((table, "<string>".to_string())),
            ConfigSources::default(),
        )
    }

    /// Loads from explicit sources; tests use this instead of the process
    /// environment.
    pub fn from_sources(sources: ConfigSources) -> Result<Self, ConfigError> {
        let file = match &sources.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Some((
                    parse_toml(&text, path)?,
                    format!("config file {}", path.display()),
                ))
            }
            None => None,
        };
        Self::from_layers(file, sources)
    }

    /// The limits that apply to `tenant`.
    pub fn limits_for(&self, tenant: &str) -> &Limits {
        self.overrides.get(tenant).unwrap_or(&self.limits)
    }

    /// How long `tenant`'s data is kept (zero = forever): its
    /// `retention_period` limit, or `[retention] period` when that is
    /// `"inherit"`.
    pub fn retention_for(&self, tenant: &str) -> Duration {
        match self.limits_for(tenant).retention_period {
            RetentionOverride::Inherit => self.retention.period,
            RetentionOverride::Period(d) => d,
        }
    }

    fn from_layers(
        file: Option<(Table, String)>,
        sources: ConfigSources,
    ) -> Result<Self, ConfigError> {
        let defaults = defaults_table();
        let mut merged = defaults.clone();
        let mut provenance = Provenance::new();
        if let Some((table, origin)) = file {
            layers::merge(&mut merged, table, "", &origin, &mut provenance);
        }
        for (key, value, origin) in layers::env_pairs(sources.env, &defaults) {
            layers::set_string(
                &mut merged,
                &defaults,
                &key,
                &value,
                &origin,
                &mut provenance,
            )?;
        }
        for (key, value) in sources.flags {
            let origin = format!("flag for {key}");
            layers::set_string(
                &mut merged,
                &defaults,
                &key,
                &value,
                &origin,
                &mut provenance,
            )?;
        }

        let overrides = match merged.remove(OVERRIDES) {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(_) => {
                return Err(invalid(
                    OVERRIDES,
                    &provenance,
                    "expected a table of tenants".into(),
                ));
            }
        };
        let global_limits = merged.get(LIMITS).cloned();
        let mut config: KilnConfig = typed(merged, "", &provenance)?;
        for (tenant, value) in overrides {
            let prefix = format!("{OVERRIDES}.{tenant}");
            let Value::Table(tenant_table) = value else {
                return Err(invalid(
                    &prefix,
                    &provenance,
                    "expected a table of limits".into(),
                ));
            };
            if let Err(reason) = crate::tenant::validate_tenant_id(&tenant) {
                return Err(invalid(&prefix, &provenance, reason.to_string()));
            }
            let mut limits = match &global_limits {
                Some(Value::Table(t)) => t.clone(),
                _ => Table::new(),
            };
            limits.extend(tenant_table);
            let resolved: Limits = typed(limits, &prefix, &provenance)?;
            config.overrides.insert(tenant, resolved);
        }
        config.validate(&provenance)?;
        Ok(config)
    }

    /// Cross-field checks that serde cannot express.
    fn validate(&self, provenance: &Provenance) -> Result<(), ConfigError> {
        if self.ingester.flush_interval.is_zero() {
            return Err(invalid(
                "ingester.flush_interval",
                provenance,
                "must be greater than 0s".into(),
            ));
        }
        if let Some((key, message)) = self.storage.problem() {
            // An unset bucket was "set" by whoever chose the backend.
            let origin = layers::origin_of(provenance, key)
                .or_else(|| layers::origin_of(provenance, "storage.backend"))
                .unwrap_or_else(|| "defaults".to_string());
            return Err(ConfigError::InvalidValue {
                key: key.to_string(),
                origin,
                message,
            });
        }
        if let Some((key, message)) = self.metastore.problem() {
            return Err(invalid(key, provenance, message));
        }
        if let Some((key, message)) = self.compactor.problem() {
            return Err(invalid(key, provenance, message));
        }
        if let Some((key, message)) = self.querier.problem() {
            return Err(invalid(key, provenance, message));
        }
        if self.ingester.max_buffer_bytes == 0 {
            return Err(invalid(
                "ingester.max_buffer_bytes",
                provenance,
                "must be greater than 0".into(),
            ));
        }
        let all_limits = std::iter::once((LIMITS.to_string(), &self.limits)).chain(
            self.overrides
                .iter()
                .map(|(t, l)| (format!("{OVERRIDES}.{t}"), l)),
        );
        for (prefix, limits) in all_limits {
            // A max of 0 disables the cap, so any default fits under it.
            if limits.max_flamegraph_nodes_max > 0
                && limits.max_flamegraph_nodes_default > limits.max_flamegraph_nodes_max
            {
                return Err(invalid(
                    &format!("{prefix}.max_flamegraph_nodes_default"),
                    provenance,
                    format!(
                        "{} is larger than max_flamegraph_nodes_max ({})",
                        limits.max_flamegraph_nodes_default, limits.max_flamegraph_nodes_max
                    ),
                ));
            }
            for (key, value) in [
                ("ingestion_rate_mb", limits.ingestion_rate_mb),
                ("ingestion_burst_size_mb", limits.ingestion_burst_size_mb),
                ("ingestion_body_limit_mb", limits.ingestion_body_limit_mb),
            ] {
                if !value.is_finite() || value < 0.0 {
                    return Err(invalid(
                        &format!("{prefix}.{key}"),
                        provenance,
                        format!("{value} is not a non-negative number"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The defaults as a TOML table: the bottom layer, and the type oracle for
/// string-valued layers.
fn defaults_table() -> Table {
    Table::try_from(KilnConfig::default()).expect("the default config serializes to TOML")
}

fn parse_toml(text: &str, path: &Path) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Deserializes `table`, turning serde's error into one that names the
/// dotted key (via `serde_path_to_error`) and where that key was set.
fn typed<T: DeserializeOwned>(
    table: Table,
    prefix: &str,
    provenance: &Provenance,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|err| {
        let path = err.path().to_string();
        let key = match (prefix.is_empty(), path.as_str()) {
            (true, _) => path.clone(),
            (false, ".") => prefix.to_string(),
            (false, p) => layers::join(prefix, p),
        };
        invalid(&key, provenance, err.into_inner().to_string())
    })
}

fn invalid(key: &str, provenance: &Provenance, message: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        origin: layers::origin_of(provenance, key)
            .or_else(|| {
                // A tenant key falls back to its global `limits` key.
                let rest = key.strip_prefix("overrides.")?;
                let (_, leaf) = rest.rsplit_once('.')?;
                layers::origin_of(provenance, &format!("{LIMITS}.{leaf}"))
            })
            .unwrap_or_else(|| "defaults".to_string()),
        message,
    }
}

#[cfg(test)]
mod tests;
