//! What the fleet test sends: distinct real profiles pushed by concurrent
//! clients (acknowledgements recorded), and flame-graph queries in a loop
//! through the frontend (every outcome recorded).
//!
//! Every profile is the captured Go CPU payload (`go-cpu.pb.gz`) with its
//! values multiplied by a factor unique to the push and its own timestamp,
//! labelled `service_name=fleet-c<client>` and `push_id=c<client>-<seq>`,
//! so each push's flame-graph total is known in advance and a lost,
//! duplicated or foreign push changes an answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;
use kiln_proto::google::v1::Profile;
use prost::Message;
use serde_json::Value;

use crate::fixtures::{decode_pprof, push_request};
use crate::harness::agent_file;
use crate::query::{CPU, selection};
use crate::server::*;

/// One profile a client pushes.
#[derive(Debug, Clone)]
pub struct FleetProfile {
    pub id: String,
    pub service: String,
    /// The encoded `PushRequest` body.
    pub body: Vec<u8>,
    /// Sum of its `cpu:nanoseconds` values: its flame-graph total.
    pub cpu_total: i64,
}

/// The Go CPU payload, decoded once, and the index of its cpu column.
pub struct GoCpu {
    profile: Profile,
    cpu_column: usize,
}

impl GoCpu {
    pub fn load() -> GoCpu {
        let profile = decode_pprof(&agent_file("go-cpu.pb.gz"));
        let cpu_column = profile
            .sample_type
            .iter()
            .position(|st| profile.string_table[st.r#type as usize] == "cpu")
            .expect("go-cpu.pb.gz has a cpu sample type");
        GoCpu {
            profile,
            cpu_column,
        }
    }

    /// Push `seq` of `client` at `time_ms`: values × a factor unique to it.
    pub fn profile(&self, client: usize, seq: usize, time_ms: i64) -> FleetProfile {
        let factor = (client * 1000 + seq + 1) as i64;
        let mut pprof = self.profile.clone();
        pprof.time_nanos = time_ms * 1_000_000;
        for sample in &mut pprof.sample {
            for value in &mut sample.value {
                *value *= factor;
            }
        }
        let cpu_total = pprof.sample.iter().map(|s| s.value[self.cpu_column]).sum();
        let id = format!("c{client}-{seq}");
        let service = format!("fleet-c{client}");
        let labels = [
            ("__name__", "process_cpu"),
            ("service_name", service.as_str()),
            ("push_id", id.as_str()),
        ];
        let body = push_request(&labels, pprof.encode_to_vec()).encode_to_vec();
        FleetProfile {
            id,
            service,
            body,
            cpu_total,
        }
    }
}

/// How one push ended, as the client saw it.
#[derive(Debug, Clone)]
pub enum PushOutcome {
    Acked {
        ingester: usize,
    },
    /// Status and body, or the transport error (e.g. a killed ingester).
    Failed {
        ingester: usize,
        error: String,
    },
}

/// Pushes in flight per ingester, and every outcome by profile id.
pub struct PushLog {
    pub in_flight: Vec<AtomicUsize>,
    pub outcomes: Mutex<BTreeMap<String, (FleetProfile, PushOutcome)>>,
}

impl PushLog {
    pub fn new(ingesters: usize) -> Arc<PushLog> {
        Arc::new(PushLog {
            in_flight: (0..ingesters).map(|_| AtomicUsize::new(0)).collect(),
            outcomes: Mutex::default(),
        })
    }

    pub fn acked(&self) -> Vec<FleetProfile> {
        self.outcomes
            .lock()
            .unwrap()
            .values()
            .filter(|(_, o)| matches!(o, PushOutcome::Acked { .. }))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Pushes `ingester` acknowledged.
    pub fn acked_by(&self, ingester: usize) -> usize {
        self.outcomes
            .lock()
            .unwrap()
            .values()
            .filter(|(_, o)| matches!(o, PushOutcome::Acked { ingester: i } if *i == ingester))
            .count()
    }

    pub fn count(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    pub fn failed(&self) -> Vec<(String, usize, String)> {
        self.outcomes
            .lock()
            .unwrap()
            .values()
            .filter_map(|(p, o)| match o {
                PushOutcome::Failed { ingester, error } => {
                    Some((p.id.clone(), *ingester, error.clone()))
                }
                PushOutcome::Acked { .. } => None,
            })
            .collect()
    }
}

/// One Connect push of `body` to `base_url`; `Ok` only when acknowledged.
pub async fn push_once(base_url: &str, body: &[u8]) -> Result<(), String> {
    let request = request(
        Method::POST,
        &format!("{base_url}{PUSH_PATH}"),
        &[("content-type", "application/proto")],
        full(body.to_vec()),
    );
    let reply = try_send(request, false).await?;
    if reply.status == 200 {
        Ok(())
    } else {
        Err(format!("{} {}", reply.status, reply.text()))
    }
}

/// A client pushing `profiles` one at a time, round-robin over the
/// ingesters it still believes alive: a failed push is recorded and not
/// retried (a retry of a push the dead ingester had already flushed would
/// store it twice), and that ingester is not used again.
pub async fn push_client(
    client: usize,
    profiles: Vec<FleetProfile>,
    ingester_urls: Vec<String>,
    log: Arc<PushLog>,
) {
    let mut alive: Vec<usize> = (0..ingester_urls.len()).collect();
    for (seq, profile) in profiles.into_iter().enumerate() {
        assert!(!alive.is_empty(), "client {client}: every ingester failed");
        let ingester = alive[(client + seq) % alive.len()];
        log.in_flight[ingester].fetch_add(1, Ordering::SeqCst);
        let result = push_once(&ingester_urls[ingester], &profile.body).await;
        log.in_flight[ingester].fetch_sub(1, Ordering::SeqCst);
        let outcome = match result {
            Ok(()) => PushOutcome::Acked { ingester },
            Err(error) => {
                alive.retain(|&i| i != ingester);
                PushOutcome::Failed { ingester, error }
            }
        };
        log.outcomes
            .lock()
            .unwrap()
            .insert(profile.id.clone(), (profile, outcome));
        // Agents push every few seconds; a short pause spreads the pushes
        // over the test so the kills land among them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Outcomes of the query loops.
#[derive(Default)]
pub struct QueryLog {
    pub in_flight: AtomicUsize,
    pub completed: AtomicUsize,
    /// Queries that completed after the querier was killed.
    pub completed_after_kill: AtomicUsize,
    pub querier_killed: AtomicBool,
    pub stop: AtomicBool,
    /// Every failed query: (after the kill?, status and message).
    pub failures: Mutex<Vec<(bool, String)>>,
}

/// A Connect JSON query of the querier service through `base_url`:
/// the JSON answer, or the status and body / transport error.
pub async fn query(base_url: &str, method: &str, body: &Value) -> Result<Value, String> {
    let request = request(
        Method::POST,
        &format!("{base_url}/querier.v1.QuerierService/{method}"),
        &[("content-type", "application/json")],
        full(body.to_string()),
    );
    let reply = try_send(request, false).await?;
    if reply.status == 200 {
        Ok(reply.json())
    } else {
        Err(format!("{} {}", reply.status, reply.text()))
    }
}

/// The flame graph of every fleet service over `[start, end]` ms.
pub fn all_services_flamegraph(start: i64, end: i64) -> Value {
    let mut body = selection(CPU, r#"{service_name=~"fleet-.*"}"#, start, end);
    body["maxNodes"] = Value::from(1_048_576);
    body
}

/// Queries the flame graph of every fleet service in a loop until told to
/// stop. The data only grows (pushes are added, compaction swaps blocks
/// atomically), so each total must be at least the previous one: a
/// double-counted or half-swapped compaction shows up here.
pub async fn query_loop(frontend_url: String, start: i64, end: i64, log: Arc<QueryLog>) {
    let body = all_services_flamegraph(start, end);
    let mut last_total = 0i64;
    while !log.stop.load(Ordering::SeqCst) {
        let after_kill = log.querier_killed.load(Ordering::SeqCst);
        log.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = query(&frontend_url, "SelectMergeStacktraces", &body).await;
        log.in_flight.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(json) => {
                let total = flamegraph_total(&json);
                assert!(
                    total >= last_total,
                    "the fleet's total shrank from {last_total} to {total}: {json}"
                );
                last_total = total;
                log.completed.fetch_add(1, Ordering::SeqCst);
                if after_kill {
                    log.completed_after_kill.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(error) => log.failures.lock().unwrap().push((after_kill, error)),
        }
    }
}

/// `flamegraph.total` of a SelectMergeStacktraces JSON answer (0 when empty).
pub fn flamegraph_total(json: &Value) -> i64 {
    match &json["flamegraph"]["total"] {
        Value::String(s) => s.parse().expect("an int64 total"),
        Value::Number(n) => n.as_i64().expect("an int64 total"),
        _ => 0,
    }
}
