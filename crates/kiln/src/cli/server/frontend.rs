//! The query-frontend role: the query engine behind the public read APIs
//! (querier.v1, render, SQL, Flight SQL, the UI), executing in process or
//! over the querier peers of `[querier]`.

use anyhow::Context;
use kiln_meta::Metastore;
use kiln_query::distributed::{DnsPeers, PeerSource, StaticPeers};
use kiln_query::{DataFusionEngine, EngineConfig, QueryEngine};
use kiln_server::config::PeerDiscovery;
use kiln_server::{KilnConfig, Readiness};
use object_store::ObjectStore;
use std::sync::Arc;

/// What the frontend serves.
pub struct Frontend {
    pub query: Arc<dyn QueryEngine>,
    pub sql: Arc<kiln_sql::SqlEngine>,
}

/// Builds the engines; with querier peers configured, `/ready` also waits
/// until at least one peer is known.
pub async fn build(
    config: &KilnConfig,
    store: Arc<dyn ObjectStore>,
    metastore: Arc<dyn Metastore>,
    readiness: &Readiness,
) -> anyhow::Result<Frontend> {
    let engine = match config.querier.discovery() {
        // The read path: the same store and metastore the ingesters write
        // to, so a profile is queryable as soon as its push is acknowledged.
        PeerDiscovery::InProcess => {
            DataFusionEngine::new(store.clone(), metastore.clone(), EngineConfig::default())
                .context("starting the query engine")?
        }
        discovery => {
            let peers = peer_source(&discovery, config).await?;
            tracing::info!(peers = ?peers, "queries run over querier peers");
            let probe_peers = peers.clone();
            readiness.add_probe("querier peers", move || {
                let known = !probe_peers.peers().is_empty();
                async move {
                    if known {
                        Ok(())
                    } else {
                        Err("no querier peer resolved yet from querier.peers_dns".to_string())
                    }
                }
            });
            DataFusionEngine::distributed(
                store.clone(),
                metastore.clone(),
                EngineConfig {
                    peer_quarantine: config.querier.peer_quarantine,
                    ..EngineConfig::default()
                },
                peers,
                config.querier.worker_secret(),
            )
            .context("starting the distributed query engine")?
        }
    };
    // SQL (POST /api/v1/sql, Flight SQL) reads the same blocks, one tenant
    // per session, in this process, through the query engine's block caches
    // and on its runtime.
    let sql = Arc::new(
        kiln_sql::SqlEngine::sharing(metastore, engine.block_cache())
            .on_runtime(engine.query_runtime()),
    );
    Ok(Frontend {
        query: Arc::new(engine),
        sql,
    })
}

async fn peer_source(
    discovery: &PeerDiscovery,
    config: &KilnConfig,
) -> anyhow::Result<Arc<dyn PeerSource>> {
    Ok(match discovery {
        PeerDiscovery::Dns { name, refresh } => Arc::new(
            DnsPeers::start(name, *refresh)
                .await
                .context("querier.peers_dns")?,
        ),
        _ => Arc::new(StaticPeers::parse(&config.querier.peers).context("querier.peers")?),
    })
}
