//! The read path end to end: profiles pushed to the real `kiln server`
//! through its real write path, then read back through every
//! `querier.v1.QuerierService` RPC and the render APIs.
//!
//! * [`synthetic`]: profiles with known stacks → exact flame graphs (golden
//!   protojson), tree bytes, pprof exports, diffs, `max_nodes`, call-site,
//!   span and profile-id selectors, render JSON.
//! * [`series`]: SelectSeries bucket boundaries, empty buckets, SUM vs
//!   AVERAGE, `group_by`, `limit`, and the render timeline.
//! * [`labels`]: label names/values/series with every matcher type, and
//!   tenant isolation through every RPC.
//! * [`agents`]: the captured Go and Node.js payloads: per-function totals
//!   computed here straight from the raw pprof equal the flame graph's.
//! * [`errors`]: bad queries answer `invalid_argument` naming the problem.

mod agents;
mod errors;
mod labels;
mod series;
mod synthetic;

use kiln_proto::google::v1::Label;
use prost::Message;
use serde_json::Value;

use crate::fixtures::{PprofBuilder, push_request};
use crate::server::*;

pub const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
pub const INUSE: &str = "memory:inuse_space:bytes:space:bytes";
const QUERIER: &str = "/querier.v1.QuerierService/";

/// Stacks (root first) and values of the reference tree "A":
/// main;work;hash 30, main;work 10, main;idle 5, gc 7 (total 52).
pub const TREE_A: &[(&[&str], i64)] = &[
    (&["main", "work", "hash"], 30),
    (&["main", "work"], 10),
    (&["main", "idle"], 5),
    (&["gc"], 7),
];

/// Tree "B": main;work 20, gc 3 (total 23).
pub const TREE_B: &[(&[&str], i64)] = &[(&["main", "work"], 20), (&["gc"], 3)];

pub fn now_ms() -> i64 {
    crate::fixtures::now_ns() / 1_000_000
}

/// A minute boundary about `minutes` ago (render timelines snap to steps).
pub fn minutes_ago(minutes: i64) -> i64 {
    (now_ms() - minutes * 60_000) / 60_000 * 60_000
}

/// The local tree of `stacks`, to compare exports with.
pub fn tree_of(stacks: &[(&[&str], i64)]) -> kiln_model::tree::Tree {
    let mut tree = kiln_model::tree::Tree::new();
    for (stack, value) in stacks {
        tree.insert_stack(stack.iter(), *value);
    }
    tree
}

fn tenant_headers<'a>(content_type: &'a str, tenant: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![("content-type", content_type)];
    headers.extend(tenant.map(|t| ("x-scope-orgid", t)));
    headers
}

/// A Connect JSON call of `method`.
pub async fn rpc_json(
    server: &KilnServer,
    method: &str,
    body: Value,
    tenant: Option<&str>,
) -> Reply {
    let url = server.url(&format!("{QUERIER}{method}"));
    post(
        &url,
        &tenant_headers("application/json", tenant),
        full(body.to_string()),
    )
    .await
}

/// A Connect JSON call that must succeed; its JSON answer.
pub async fn rpc_ok(server: &KilnServer, method: &str, body: Value, tenant: Option<&str>) -> Value {
    let reply = rpc_json(server, method, body, tenant).await;
    assert_eq!(reply.status, 200, "{method}: {reply:?}");
    reply.json()
}

/// A Connect binary-proto call that must succeed.
pub async fn rpc_proto<Req: Message, Resp: Message + Default>(
    server: &KilnServer,
    method: &str,
    request: &Req,
    tenant: Option<&str>,
) -> Resp {
    let url = server.url(&format!("{QUERIER}{method}"));
    let headers = tenant_headers("application/proto", tenant);
    let reply = post(&url, &headers, full(request.encode_to_vec())).await;
    assert_eq!(reply.status, 200, "{method}: {reply:?}");
    Resp::decode(reply.body).expect("a response message")
}

/// `400 {"code":"invalid_argument"}` whose message mentions every part.
#[track_caller]
pub fn assert_invalid(reply: &Reply, parts: &[&str]) {
    assert_error(reply, 400, "invalid_argument", parts);
}

/// Pushes one CPU profile of `stacks` at `time_ms` with `labels` (plus
/// `__name__=process_cpu`), through Connect Push; it is stored once acked.
pub async fn push_cpu(
    server: &KilnServer,
    tenant: Option<&str>,
    labels: &[(&str, &str)],
    time_ms: i64,
    stacks: &[(&[&str], i64)],
) {
    let mut pprof = PprofBuilder::cpu().time(time_ms * 1_000_000);
    for (stack, value) in stacks {
        pprof = pprof.sample(stack, &[*value]);
    }
    push(server, tenant, "process_cpu", labels, pprof.encode()).await;
}

/// Pushes an encoded pprof with `__name__` and `labels`.
pub async fn push(
    server: &KilnServer,
    tenant: Option<&str>,
    name: &str,
    labels: &[(&str, &str)],
    pprof: Vec<u8>,
) {
    let mut all = vec![("__name__", name)];
    all.extend_from_slice(labels);
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-scope-orgid", t)).into_iter().collect();
    let reply = push_proto(server, &push_request(&all, pprof), &headers).await;
    assert_ok_empty(&reply);
}

/// Adds the sample label `key=value` (a string label) to sample `index`.
pub fn label_sample(pprof: &mut PprofBuilder, index: usize, key: &str, value: &str) {
    let profile = pprof.profile_mut();
    let mut string = |s: &str| match profile.string_table.iter().position(|x| x == s) {
        Some(i) => i as i64,
        None => {
            profile.string_table.push(s.to_string());
            profile.string_table.len() as i64 - 1
        }
    };
    let label = Label {
        key: string(key),
        str: string(value),
        num: 0,
        num_unit: 0,
    };
    profile.sample[index].label.push(label);
}

/// `{start, end}` plus the selection of `profile_type` and `selector`.
pub fn selection(profile_type: &str, selector: &str, start: i64, end: i64) -> Value {
    serde_json::json!({
        "profileTypeID": profile_type,
        "labelSelector": selector,
        "start": start.to_string(),
        "end": end.to_string(),
    })
}

/// `value` with the fields of `extra` set over it.
pub fn with(mut value: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("an object") {
        value[k] = v.clone();
    }
    value
}

/// `%`-escapes a query parameter value.
pub fn escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
