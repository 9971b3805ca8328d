//! `[metastore]`: where the block index lives.
//!
//! `embedded` keeps it in the object store next to the blocks (one process
//! owns it); `postgres` keeps it in PostgreSQL, shared by every process
//! pointed at the same database (docs/operations.md).

use serde::{Deserialize, Serialize};

/// `[metastore]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetastoreConfig {
    pub backend: MetastoreBackend,
    /// `postgres://user:password@host:port/dbname` (or a libpq key=value
    /// string); required with `backend = "postgres"`.
    pub postgres_url: String,
    /// Most connections to PostgreSQL this process opens.
    pub postgres_max_connections: u32,
}

impl Default for MetastoreConfig {
    fn default() -> Self {
        Self {
            backend: MetastoreBackend::Embedded,
            postgres_url: String::new(),
            postgres_max_connections: 16,
        }
    }
}

/// Implementation behind `[metastore]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetastoreBackend {
    /// Op log and snapshots in the object store (`metastore/`).
    Embedded,
    /// Tables in PostgreSQL (`metastore.postgres_url`).
    Postgres,
}

impl MetastoreConfig {
    /// Why the section is inconsistent, if it is: `(key, message)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.backend != MetastoreBackend::Postgres {
            return None;
        }
        let url = self.postgres_url.trim();
        if url.is_empty() {
            return Some((
                "metastore.postgres_url",
                "required with metastore.backend = \"postgres\"".into(),
            ));
        }
        let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !is_url && !url.contains('=') {
            // Not echoed: it may hold a password.
            return Some((
                "metastore.postgres_url",
                "expected a postgres://… URL or a libpq key=value string".into(),
            ));
        }
        if self.postgres_max_connections == 0 {
            return Some((
                "metastore.postgres_max_connections",
                "must be greater than 0".into(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, ConfigSources, KilnConfig};

    fn load(env: &[(&str, &str)]) -> Result<KilnConfig, ConfigError> {
        KilnConfig::from_sources(ConfigSources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ConfigSources::default()
        })
    }

    fn error_key(result: Result<KilnConfig, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::InvalidValue { key, message, .. }) => (key, message),
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn postgres_from_the_environment() {
        let config = load(&[
            ("KILN_METASTORE__BACKEND", "postgres"),
            ("KILN_METASTORE__POSTGRES_URL", "postgres://kiln@db/kiln"),
        ])
        .expect("valid");
        assert_eq!(config.metastore.backend, super::MetastoreBackend::Postgres);
        assert_eq!(config.metastore.postgres_url, "postgres://kiln@db/kiln");
    }

    #[test]
    fn postgres_needs_a_url() {
        let (key, message) = error_key(load(&[("KILN_METASTORE__BACKEND", "postgres")]));
        assert_eq!(key, "metastore.postgres_url");
        assert!(message.contains("required"), "{message}");

        let (key, message) = error_key(load(&[
            ("KILN_METASTORE__BACKEND", "postgres"),
            ("KILN_METASTORE__POSTGRES_URL", "db.internal:5432"),
        ]));
        assert_eq!(key, "metastore.postgres_url");
        assert!(message.contains("postgres://"), "{message}");

        let (key, _) = error_key(load(&[
            ("KILN_METASTORE__BACKEND", "postgres"),
            ("KILN_METASTORE__POSTGRES_URL", "host=db dbname=kiln"),
            ("KILN_METASTORE__POSTGRES_MAX_CONNECTIONS", "0"),
        ]));
        assert_eq!(key, "metastore.postgres_max_connections");
    }

    #[test]
    fn unknown_backend_names_the_key() {
        let (key, message) = error_key(load(&[("KILN_METASTORE__BACKEND", "mysql")]));
        assert_eq!(key, "metastore.backend");
        assert!(message.contains("mysql"), "{message}");
    }

    #[test]
    fn embedded_ignores_the_url() {
        let config = load(&[("KILN_METASTORE__POSTGRES_URL", "nonsense")]).expect("valid");
        assert_eq!(config.metastore.backend, super::MetastoreBackend::Embedded);
    }
}
