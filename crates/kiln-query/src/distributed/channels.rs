//! Connections from a frontend to its peers: one lazily connecting tonic
//! channel per peer URL, with a connect timeout, so a peer whose address
//! has gone silent (a deleted pod's IP) fails an attempt in seconds instead
//! of waiting for the OS connect timeout, and HTTP/2 keep-alive pings, so a
//! peer lost mid-query without closing its sockets fails the attempt too.
//! (The library's default resolver has neither.) With a [`WorkerSecret`],
//! every call carries it.

use super::auth::{WORKER_AUTH_HEADER, WorkerSecret};
use async_trait::async_trait;
use datafusion::common::DataFusionError;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{ChannelResolver, WorkerChannel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codegen::http;
use tonic::transport::Endpoint;
use tower::ServiceExt;
use url::Url;

/// How long connecting to a peer may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 ping interval and ping-answer timeout on peer connections.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Channels kept before the cache starts over (peer lists churn under DNS).
const MAX_CHANNELS: usize = 1024;

/// See the module docs. Cheap to clone (shared cache).
#[derive(Clone, Default)]
pub(crate) struct PeerChannels {
    channels: Arc<Mutex<HashMap<Url, BoxCloneSyncChannel>>>,
    secret: Option<WorkerSecret>,
}

impl PeerChannels {
    /// Channels whose calls carry `secret`, if any.
    pub(crate) fn new(secret: Option<WorkerSecret>) -> Self {
        Self {
            channels: Arc::default(),
            secret,
        }
    }

    fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel, DataFusionError> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(url) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| DataFusionError::Configuration(format!("querier peer {url}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            // A peer that vanishes mid-query without closing its sockets
            // (node lost) is noticed by the missing pings.
            .http2_keep_alive_interval(KEEP_ALIVE)
            .keep_alive_timeout(KEEP_ALIVE);
        let lazy = endpoint.connect_lazy();
        let channel = match &self.secret {
            Some(secret) => {
                let value = secret.header_value();
                BoxCloneSyncChannel::new(lazy.map_request(move |mut req: http::Request<_>| {
                    req.headers_mut().insert(WORKER_AUTH_HEADER, value.clone());
                    req
                }))
            }
            None => BoxCloneSyncChannel::new(lazy),
        };
        if channels.len() >= MAX_CHANNELS {
            channels.clear();
        }
        channels.insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl ChannelResolver for PeerChannels {
    async fn get_worker_client_for_url(
        &self,
        url: &Url,
    ) -> Result<Box<dyn WorkerChannel>, DataFusionError> {
        Ok(create_worker_client(self.channel(url)?))
    }
}
