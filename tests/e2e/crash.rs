//! Durable acknowledgement under `kill -9` (design §2): several clients push
//! distinct profiles over Connect while the server is SIGKILLed at a random
//! moment; after a restart on the same data directory, every acknowledged
//! profile must be stored exactly once, and nothing — acknowledged or not —
//! more than once (these clients never retry).
//!
//! One data directory serves every trial, so each restart also recovers
//! everything earlier trials left behind, and the check is cumulative.
//! The kill moments come from a seed printed at the start; set
//! `KILN_E2E_CRASH_SEED` to replay a failing run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use prost::Message;

use crate::fixtures::cpu_push;
use crate::server::*;

const TRIALS: usize = 15;
const CLIENTS: usize = 6;
/// The kill lands this long after the clients start, uniformly.
const KILL_AFTER_MS: (u64, u64) = (50, 400);

/// A small deterministic PRNG (xorshift64*), so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn seed() -> u64 {
    match std::env::var("KILN_E2E_CRASH_SEED") {
        Ok(s) => s.parse().expect("KILN_E2E_CRASH_SEED is a u64"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    }
}

/// What the clients saw, by push id (`<trial>-<client>-<n>`).
#[derive(Debug, Default)]
struct Outcomes {
    /// Answered 200: must be stored exactly once.
    acked: BTreeSet<String>,
    /// Sent, but the answer was an error or never came: at most once.
    unacked: BTreeSet<String>,
}

/// Pushes distinct profiles one after another until the server is gone.
async fn client(url: String, trial: usize, client: usize, outcomes: Arc<Mutex<Outcomes>>) {
    for n in 0.. {
        let id = format!("{trial}-{client}-{n}");
        // The value encodes nothing; the label identifies the push.
        let body = cpu_push("crash", &[("push", &id)], 1_000 + n).encode_to_vec();
        let reply = try_send(
            request(
                Method::POST,
                &url,
                &[("content-type", "application/proto")],
                full(body),
            ),
            false,
        )
        .await;
        let mut outcomes = outcomes.lock().unwrap();
        match reply {
            Ok(reply) if reply.status == 200 => {
                outcomes.acked.insert(id);
            }
            Ok(_) => {
                outcomes.unacked.insert(id);
            }
            Err(_) => {
                // Connection refused or reset: the server was killed.
                outcomes.unacked.insert(id);
                return;
            }
        }
    }
}

/// Profile rows stored per push id.
async fn stored_pushes(server: &KilnServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for series in server.stored().await.series {
        assert_eq!(series.service(), "crash", "{series:?}");
        *counts.entry(series.label("push").to_string()).or_default() += series.profiles.len();
    }
    counts
}

#[tokio::test]
async fn acknowledged_pushes_survive_kill_9() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("crash test seed: {seed} (KILN_E2E_CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut server = KilnServer::builder()
        .env("KILN_INGESTER__FLUSH_INTERVAL", "50ms")
        // Every push is its own series; that is not what this test limits.
        .env("KILN_LIMITS__MAX_SERIES_PER_TENANT", "0")
        .start()
        .await;
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut acked_before_kill = Vec::new();
    for trial in 0..TRIALS {
        let url = server.url(PUSH_PATH);
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client(url.clone(), trial, c, outcomes.clone())))
            .collect();
        let kill_after = rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1);
        // The one deliberate sleep: the kill must land at an arbitrary moment.
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        let acked_now = outcomes.lock().unwrap().acked.len();
        server.kill();
        for task in tasks {
            task.await.expect("client task");
        }
        acked_before_kill.push((kill_after, acked_now));
        server.restart().await;

        let stored = stored_pushes(&server).await;
        let outcomes = outcomes.lock().unwrap();
        for id in &outcomes.acked {
            assert_eq!(
                stored.get(id).copied().unwrap_or(0),
                1,
                "trial {trial} (seed {seed}): acknowledged push {id} must be stored exactly once"
            );
        }
        for (id, &count) in &stored {
            assert!(
                outcomes.acked.contains(id) || outcomes.unacked.contains(id),
                "trial {trial}: stored push {id} was never sent"
            );
            assert_eq!(
                count, 1,
                "trial {trial} (seed {seed}): push {id} stored {count} times"
            );
        }
    }
    let (acked, unacked) = {
        let outcomes = outcomes.lock().unwrap();
        (outcomes.acked.len(), outcomes.unacked.len())
    };
    eprintln!(
        "crash test: {acked} acknowledged, {unacked} unacknowledged pushes over {TRIALS} kills \
         (kill after ms, acks so far): {acked_before_kill:?}, {:?}",
        started.elapsed()
    );
    // The kills must have hit a server under load, not an idle one.
    assert!(
        acked >= TRIALS,
        "too few acknowledged pushes to mean anything: {acked}"
    );
    let reply = push_proto(&server, &cpu_push("crash", &[("push", "final")], 1), &[]).await;
    assert_eq!(
        reply.status, 200,
        "the recovered server takes pushes: {reply:?}"
    );
}
