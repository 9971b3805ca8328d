//! Where the querier peers are: [`PeerSource`], a fixed list
//! ([`StaticPeers`]) or a DNS name re-resolved in the background
//! ([`DnsPeers`]). `datafusion-distributed` asks for the list synchronously
//! while planning, so every source answers from memory.

use crate::error::QueryError;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use url::Url;

/// The querier base URLs a distributed engine may send work to right now
/// (e.g. `http://10.0.0.5:4040`). Called on every query: it must answer
/// from memory, without blocking.
pub trait PeerSource: Send + Sync + std::fmt::Debug {
    fn peers(&self) -> Vec<Url>;
}

/// Parses a querier base URL: `http` or `https` with a host.
fn peer_url(s: &str) -> Result<Url, QueryError> {
    let bad = |why: &str| QueryError::InvalidArgument(format!("querier peer {s:?}: {why}"));
    let url = Url::parse(s.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL"));
    }
    if url.host().is_none() {
        return Err(bad("has no host"));
    }
    Ok(url)
}

/// A fixed list of peers (`querier.peers`).
#[derive(Debug, Clone, Default)]
pub struct StaticPeers {
    urls: Vec<Url>,
}

impl StaticPeers {
    pub fn new(urls: Vec<Url>) -> Self {
        Self { urls }
    }

    /// Parses base URLs such as `http://10.0.0.5:4040`, naming the first
    /// one that is not an http(s) URL with a host.
    pub fn parse<I, S>(urls: I) -> Result<Self, QueryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls = urls
            .into_iter()
            .map(|s| peer_url(s.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { urls })
    }
}

impl PeerSource for StaticPeers {
    fn peers(&self) -> Vec<Url> {
        self.urls.clone()
    }
}

/// Peers found by resolving `host:port` (`querier.peers_dns`, e.g. a
/// Kubernetes headless service): every A/AAAA record becomes
/// `http://ip:port`. Re-resolved every `refresh` by a background task
/// (stopped when this is dropped); a failed lookup keeps the last list.
#[derive(Debug)]
pub struct DnsPeers {
    name: String,
    current: Arc<RwLock<Vec<Url>>>,
    refresher: tokio::task::JoinHandle<()>,
}

impl DnsPeers {
    /// Resolves `name` (`host:port`) once, then every `refresh` in the
    /// background of the current tokio runtime. A name that does not
    /// resolve yet is not an error (its pods may not be up): the list stays
    /// empty until it does. A name without a port is.
    pub async fn start(name: &str, refresh: Duration) -> Result<Self, QueryError> {
        let name = name.trim().to_string();
        let port_ok = name
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(QueryError::InvalidArgument(format!(
                "querier peers DNS name {name:?} must be host:port"
            )));
        }
        let current = Arc::new(RwLock::new(Vec::new()));
        refresh_once(&name, &current).await;
        let refresher = tokio::spawn({
            let (name, current) = (name.clone(), Arc::downgrade(&current));
            let refresh = refresh.max(Duration::from_millis(100));
            async move {
                loop {
                    tokio::time::sleep(refresh).await;
                    let Some(current) = current.upgrade() else {
                        return;
                    };
                    refresh_once(&name, &current).await;
                }
            }
        });
        Ok(Self {
            name,
            current,
            refresher,
        })
    }

    /// The `host:port` this source resolves.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for DnsPeers {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl PeerSource for DnsPeers {
    fn peers(&self) -> Vec<Url> {
        self.current.read().map(|v| v.clone()).unwrap_or_default()
    }
}

/// One lookup of `name`; the result (sorted, deduplicated) replaces the
/// list, a failure keeps it.
async fn refresh_once(name: &str, current: &RwLock<Vec<Url>>) {
    match tokio::net::lookup_host(name).await {
        Ok(addrs) => {
            let mut urls: Vec<Url> = addrs
                .filter_map(|a| Url::parse(&format!("http://{a}")).ok())
                .collect();
            urls.sort();
            urls.dedup();
            if let Ok(mut list) = current.write() {
                if *list != urls {
                    tracing::info!(dns = name, peers = ?urls.iter().map(Url::as_str).collect::<Vec<_>>(), "querier peers changed");
                }
                *list = urls;
            }
        }
        Err(e) => {
            tracing::warn!(dns = name, error = %e, "querier peers: DNS lookup failed; keeping the last list")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_peers_parse_and_refuse_non_http() {
        let peers = StaticPeers::parse(["http://10.0.0.5:4040", " https://q1:4040 "]).unwrap();
        assert_eq!(
            peers.peers(),
            vec![
                Url::parse("http://10.0.0.5:4040").unwrap(),
                Url::parse("https://q1:4040").unwrap()
            ]
        );
        let err = StaticPeers::parse(["ftp://x:1"]).unwrap_err().to_string();
        assert!(err.contains("ftp://x:1") && err.contains("http"), "{err}");
        assert!(StaticPeers::parse(["10.0.0.5:4040"]).is_err());
    }

    #[tokio::test]
    async fn dns_peers_resolve_localhost_and_refuse_missing_port() {
        let peers = DnsPeers::start("localhost:4040", Duration::from_secs(60))
            .await
            .unwrap();
        let urls = peers.peers();
        assert!(!urls.is_empty(), "localhost resolves");
        assert!(urls.iter().all(|u| u.port() == Some(4040)), "{urls:?}");
        assert!(
            DnsPeers::start("localhost", Duration::from_secs(1))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn dns_peers_start_empty_for_unknown_names() {
        let peers = DnsPeers::start("no-such-host.invalid:4040", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(peers.peers().is_empty());
        assert_eq!(peers.name(), "no-such-host.invalid:4040");
    }
}
