//! The fleet of `kiln server` processes, one role each, on one bucket
//! (moto's S3) and one database (PostgreSQL), plus the single-process
//! reference server the fleet's answers are compared with.
//!
//! ```text
//!  PostgreSQL (fresh database) ◄─┬─ ingester a, ingester b   (KILN_TARGET=ingester)
//!  moto S3 (fresh prefix)     ◄──┼─ compactor                (1 s interval, 1 s settle)
//!                                ├─ querier 0, 1, 2          (KILN_TARGET=querier)
//!                                └─ query-frontend           (KILN_QUERIER__PEERS = the queriers)
//!  reference: `--target=all` on its own data dir (embedded metastore)
//! ```
//!
//! Every process is started by the e2e harness ([`KilnServer`]): a free
//! loopback port, `/ready` awaited, stderr printed when the test fails. A
//! role the binary does not know, or a config key it refuses
//! (`querier.peers`), stops that process at startup and fails the test
//! with its stderr.

use crate::cluster::Backing;
use futures::future::join_all;

use crate::server::*;

/// Processes of one fleet; each is killed (SIGKILL) when dropped.
pub struct Fleet {
    pub ingesters: Vec<KilnServer>,
    pub compactor: KilnServer,
    pub queriers: Vec<KilnServer>,
    pub frontend: KilnServer,
    /// The fleet's metastore, to check what the compactor did.
    pub postgres_url: String,
}

impl Fleet {
    /// Starts PostgreSQL and moto (once per test binary), then the
    /// queriers, ingesters and compactor in parallel, then the frontend
    /// (it needs the queriers' addresses).
    pub async fn start(ingesters: usize, queriers: usize) -> Fleet {
        let backing = Backing::new("fleet").await;
        // Every role shares the worker secret, as the deploy manifests do
        // (only frontends and queriers use it).
        let role = |target: &str| {
            backing.role(target).env(
                "KILN_QUERIER__WORKER_SECRET",
                "fleet-worker-secret-0123456789",
            )
        };

        let started_queriers = join_all((0..queriers).map(|_| role("querier").start()));
        let started_ingesters = join_all((0..ingesters).map(|_| role("ingester").start()));
        let compactor = role("compactor")
            // Compact during the test: closed 10 min windows are merged
            // within about a second of the pushes that fill them.
            .env("KILN_COMPACTOR__INTERVAL", "1s")
            .env("KILN_COMPACTOR__SETTLE_DELAY", "1s")
            .start();
        let (queriers, ingesters, compactor) =
            futures::join!(started_queriers, started_ingesters, compactor);
        let peers: Vec<String> = queriers.iter().map(|q| q.url("")).collect();
        let frontend = role("query-frontend")
            .env("KILN_QUERIER__PEERS", &peers.join(","))
            .start()
            .await;
        Fleet {
            ingesters,
            compactor,
            queriers,
            frontend,
            postgres_url: backing.postgres_url.clone(),
        }
    }

    /// Every process with its role, for messages and log dumps.
    pub fn processes(&self) -> Vec<(String, &KilnServer)> {
        let mut all = Vec::new();
        for (i, s) in self.ingesters.iter().enumerate() {
            all.push((format!("ingester {i}"), s));
        }
        all.push(("compactor".to_string(), &self.compactor));
        for (i, s) in self.queriers.iter().enumerate() {
            all.push((format!("querier {i}"), s));
        }
        all.push(("query-frontend".to_string(), &self.frontend));
        all
    }
}

/// The single-process server (`--target=all`, the default, on its own
/// filesystem store and embedded metastore) whose answers are the truth.
pub async fn reference_server() -> KilnServer {
    KilnServer::builder()
        .env("KILN_TARGET", "all")
        .start()
        .await
}
