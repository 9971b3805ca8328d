//! `[querier]`: where a query-frontend finds its querier peers.
//!
//! Empty (the default) means the frontend executes queries in its own
//! process. With `peers` (static base URLs) or `peers_dns` (a name whose
//! A/AAAA records are re-resolved every `peers_refresh_interval`), the
//! frontend plans each query and spreads scans and partial aggregation over
//! those queriers (docs/operations.md, "Running roles as separate processes").
//! `worker_secret`, set alike on frontends and queriers, is the bearer token
//! every worker call must carry.

use std::fmt;
use std::time::Duration;

use axum::http::Uri;
use kiln_query::distributed::WorkerSecret;
use serde::{Deserialize, Serialize};

/// Shortest `worker_secret` accepted: a guessable token protects nothing.
const MIN_SECRET_LEN: usize = 16;

/// `[querier]`
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Base URLs of querier processes, e.g. `http://10.0.0.5:4040`.
    /// In the environment: `KILN_QUERIER__PEERS=http://a:4040,http://b:4040`.
    pub peers: Vec<String>,
    /// `host:port` whose A/AAAA records are the queriers (a Kubernetes
    /// headless service); each address becomes `http://ip:port`.
    pub peers_dns: String,
    /// How often `peers_dns` is resolved again.
    #[serde(with = "humantime_serde")]
    pub peers_refresh_interval: Duration,
    /// How long a querier found dead is skipped by every query before it
    /// is tried again (0s: tried by the next query).
    #[serde(with = "humantime_serde")]
    pub peer_quarantine: Duration,
    /// Shared by the cluster's frontends and queriers: frontends send it
    /// with every worker call, queriers refuse worker calls without it.
    /// Empty = worker calls are not authenticated (then only frontends may
    /// reach the queriers' port). In the environment:
    /// `KILN_QUERIER__WORKER_SECRET`, from a secret store.
    pub worker_secret: String,
}

impl fmt::Debug for QuerierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuerierConfig")
            .field("peers", &self.peers)
            .field("peers_dns", &self.peers_dns)
            .field("peers_refresh_interval", &self.peers_refresh_interval)
            .field("peer_quarantine", &self.peer_quarantine)
            .field("worker_secret", &self.worker_secret().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for QuerierConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            peers_dns: String::new(),
            peers_refresh_interval: Duration::from_secs(10),
            peer_quarantine: Duration::from_secs(30),
            worker_secret: String::new(),
        }
    }
}

/// Where the query-frontend's peers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerDiscovery {
    /// No peers: queries run in the frontend's own process.
    InProcess,
    /// A fixed list of querier base URLs.
    Static(Vec<Uri>),
    /// `host:port`, resolved every `refresh`.
    Dns { name: String, refresh: Duration },
}

impl QuerierConfig {
    /// How the frontend finds its peers (call after validation).
    pub fn discovery(&self) -> PeerDiscovery {
        if !self.peers_dns.trim().is_empty() {
            return PeerDiscovery::Dns {
                name: self.peers_dns.trim().to_string(),
                refresh: self.peers_refresh_interval,
            };
        }
        if self.peers.is_empty() {
            return PeerDiscovery::InProcess;
        }
        PeerDiscovery::Static(
            self.peers
                .iter()
                .filter_map(|p| parse_peer(p).ok())
                .collect(),
        )
    }

    /// The worker secret, if one is set (call after validation).
    pub fn worker_secret(&self) -> Option<WorkerSecret> {
        if self.worker_secret.is_empty() {
            return None;
        }
        WorkerSecret::new(&self.worker_secret)
    }

    /// Why the section is inconsistent, if it is: `(key, message)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let secret = &self.worker_secret;
        if !secret.is_empty() {
            // The value itself never goes into a message.
            if secret.len() < MIN_SECRET_LEN {
                return Some((
                    "querier.worker_secret",
                    format!(
                        "is {} characters long; use at least {MIN_SECRET_LEN} (e.g. `openssl rand -hex 32`)",
                        secret.len()
                    ),
                ));
            }
            if WorkerSecret::new(secret).is_none() {
                return Some((
                    "querier.worker_secret",
                    "may hold only visible ASCII characters without spaces".into(),
                ));
            }
        }
        for peer in &self.peers {
            if let Err(message) = parse_peer(peer) {
                return Some(("querier.peers", message));
            }
        }
        let dns = self.peers_dns.trim();
        if !dns.is_empty() {
            if !self.peers.is_empty() {
                return Some((
                    "querier.peers_dns",
                    "set either querier.peers or querier.peers_dns, not both".into(),
                ));
            }
            let port_ok = dns
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Some((
                    "querier.peers_dns",
                    format!("{dns:?} is not host:port (e.g. \"kiln-querier.kiln.svc:4040\")"),
                ));
            }
            if self.peers_refresh_interval.is_zero() {
                return Some((
                    "querier.peers_refresh_interval",
                    "must be greater than 0s".into(),
                ));
            }
        }
        None
    }
}

/// One peer base URL: `http(s)://host:port`, no path beyond `/`.
fn parse_peer(peer: &str) -> Result<Uri, String> {
    let uri: Uri = peer
        .trim()
        .parse()
        .map_err(|e| format!("{peer:?} is not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let path_ok = matches!(uri.path(), "" | "/");
    if !scheme_ok || uri.authority().is_none() || !path_ok {
        return Err(format!(
            "{peer:?} is not a querier base URL like \"http://10.0.0.5:4040\""
        ));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::PeerDiscovery;
    use crate::config::{ConfigError, ConfigSources, KilnConfig};
    use std::time::Duration;

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
    fn default_is_in_process() {
        let config = load(&[]).expect("defaults");
        assert_eq!(config.querier.discovery(), PeerDiscovery::InProcess);
    }

    #[test]
    fn peers_from_the_environment_as_a_comma_list() {
        let config = load(&[(
            "KILN_QUERIER__PEERS",
            "http://10.0.0.5:4040, http://10.0.0.6:4040",
        )])
        .expect("valid");
        assert_eq!(
            config.querier.peers,
            ["http://10.0.0.5:4040", "http://10.0.0.6:4040"]
        );
        let PeerDiscovery::Static(peers) = config.querier.discovery() else {
            panic!("static peers expected");
        };
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1].port_u16(), Some(4040));

        let empty = load(&[("KILN_QUERIER__PEERS", "")]).expect("valid");
        assert!(empty.querier.peers.is_empty());
    }

    #[test]
    fn peers_from_toml() {
        let config = KilnConfig::from_toml_str(
            "[querier]\npeers = [\"http://a:4040\"]\npeers_refresh_interval = \"3s\"\npeer_quarantine = \"5s\"\n",
        )
        .expect("valid");
        assert_eq!(config.querier.peers, ["http://a:4040"]);
        assert_eq!(
            config.querier.peers_refresh_interval,
            Duration::from_secs(3)
        );
        assert_eq!(config.querier.peer_quarantine, Duration::from_secs(5));
    }

    #[test]
    fn worker_secret_is_checked_and_never_shown() {
        let secret = "0123456789abcdef0123";
        let config = load(&[("KILN_QUERIER__WORKER_SECRET", secret)]).expect("valid");
        assert!(config.querier.worker_secret().is_some());
        assert!(!format!("{config:?}").contains(secret), "Debug shows it");
        assert!(
            load(&[])
                .expect("defaults")
                .querier
                .worker_secret()
                .is_none()
        );

        let (key, message) = error_key(load(&[("KILN_QUERIER__WORKER_SECRET", "short")]));
        assert_eq!(key, "querier.worker_secret");
        assert!(message.contains("at least 16"), "{message}");
        assert!(!message.contains("short"), "{message}");
        let (key, message) = error_key(load(&[(
            "KILN_QUERIER__WORKER_SECRET",
            "0123456789 abcdef0123",
        )]));
        assert_eq!(key, "querier.worker_secret");
        assert!(message.contains("visible ASCII"), "{message}");
    }

    #[test]
    fn dns_peers() {
        let config = load(&[
            ("KILN_QUERIER__PEERS_DNS", "kiln-querier.kiln.svc:4040"),
            ("KILN_QUERIER__PEERS_REFRESH_INTERVAL", "30s"),
        ])
        .expect("valid");
        assert_eq!(
            config.querier.discovery(),
            PeerDiscovery::Dns {
                name: "kiln-querier.kiln.svc:4040".into(),
                refresh: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn bad_peers_name_the_key() {
        let (key, message) = error_key(load(&[("KILN_QUERIER__PEERS", "10.0.0.5:4040")]));
        assert_eq!(key, "querier.peers");
        assert!(message.contains("10.0.0.5:4040"), "{message}");

        let (key, _) = error_key(load(&[("KILN_QUERIER__PEERS", "http://a:1/some/path")]));
        assert_eq!(key, "querier.peers");

        let (key, message) = error_key(load(&[("KILN_QUERIER__PEERS_DNS", "kiln-querier")]));
        assert_eq!(key, "querier.peers_dns");
        assert!(message.contains("host:port"), "{message}");

        let (key, message) = error_key(load(&[
            ("KILN_QUERIER__PEERS", "http://a:1"),
            ("KILN_QUERIER__PEERS_DNS", "b:1"),
        ]));
        assert_eq!(key, "querier.peers_dns");
        assert!(message.contains("not both"), "{message}");
    }
}
