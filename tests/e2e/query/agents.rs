//! The independent cross-check: the captured Go (CPU, heap) and Node.js
//! payloads go through the real write and read paths, and the flame graph's
//! per-function totals must equal those computed here straight from the
//! raw pprof bytes (prost-decoded; frames leaf first, inlined lines
//! expanded, unsymbolized locations named `0x<address>`).
//!
//! "Self" is the value of samples whose leaf is the function; "inclusive"
//! is the value of samples with the function anywhere on the stack, counted
//! once per sample (so recursion is not double counted).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kiln_model::flamegraph::decode_flamegraph;
use kiln_model::tree::{NodeId, Tree};
use kiln_model::tree_pprof::pprof_to_tree;
use kiln_proto::google::v1::{Location, Profile};
use kiln_proto::querier::v1::{
    FlameGraph, ProfileFormat, SelectMergeStacktracesRequest, SelectMergeStacktracesResponse,
};
use serde_json::json;

use super::*;
use crate::fixtures::decode_pprof;
use crate::harness::agent_file;

#[derive(Debug, Default, PartialEq)]
struct FunctionTotals {
    self_values: BTreeMap<String, i64>,
    inclusive: BTreeMap<String, i64>,
}

/// Per-function totals of value column `index`, from the raw profile.
fn from_pprof(profile: &Profile, index: usize) -> FunctionTotals {
    let s = |i: i64| profile.string_table[i as usize].clone();
    let functions: HashMap<u64, String> =
        profile.function.iter().map(|f| (f.id, s(f.name))).collect();
    let locations: HashMap<u64, &Location> = profile.location.iter().map(|l| (l.id, l)).collect();
    let mut totals = FunctionTotals::default();
    for sample in &profile.sample {
        let value = sample.value[index];
        if value == 0 {
            continue;
        }
        let mut frames: Vec<String> = Vec::new();
        for id in &sample.location_id {
            let location = locations[id];
            if location.line.is_empty() {
                frames.push(format!("0x{:x}", location.address));
            }
            // The first line is the innermost (inlined) function.
            frames.extend(
                location
                    .line
                    .iter()
                    .map(|l| functions[&l.function_id].clone()),
            );
        }
        let Some(leaf) = frames.first() else { continue };
        *totals.self_values.entry(leaf.clone()).or_default() += value;
        for name in frames.iter().collect::<BTreeSet<_>>() {
            *totals.inclusive.entry(name.clone()).or_default() += value;
        }
    }
    totals
}

/// The same totals, from a decoded flame graph.
fn from_tree(tree: &Tree) -> FunctionTotals {
    let mut totals = FunctionTotals::default();
    let mut stack: Vec<(NodeId, Vec<String>)> = vec![(Tree::ROOT, Vec::new())];
    while let Some((node, ancestors)) = stack.pop() {
        for child in tree.sorted_children(node) {
            let name = tree.name(child).to_string();
            if tree.self_value(child) != 0 {
                *totals.self_values.entry(name.clone()).or_default() += tree.self_value(child);
            }
            if !ancestors.contains(&name) {
                *totals.inclusive.entry(name.clone()).or_default() += tree.node_total(child);
            }
            let mut path = ancestors.clone();
            path.push(name);
            stack.push((child, path));
        }
    }
    totals
}

/// For every profile type stored for `service`, compares the flame graph
/// (no node limit) with the raw payload's column of the same type and unit.
async fn cross_check(server: &KilnServer, service: &str, raw: &[u8]) {
    let profile = decode_pprof(raw);
    let s = |i: i64| profile.string_table[i as usize].clone();
    let selector = format!(r#"{{service_name="{service}"}}"#);
    let body = json!({"matchers": [selector], "labelNames": ["__profile_type__"]});
    let json = rpc_ok(server, "Series", body, None).await;
    let types: Vec<String> = json["labelsSet"]
        .as_array()
        .expect("the service has series")
        .iter()
        .map(|set| set["labels"][0]["value"].as_str().unwrap().to_string())
        .collect();
    let columns_with_data = profile
        .sample_type
        .iter()
        .enumerate()
        .filter(|(i, _)| profile.sample.iter().any(|x| x.value[*i] != 0))
        .count();
    assert_eq!(
        types.len(),
        columns_with_data,
        "{service}: one series per non-empty column: {types:?}"
    );
    let end = now_ms() + 3_600_000;
    for id in types {
        let parts: Vec<&str> = id.split(':').collect();
        let index = profile
            .sample_type
            .iter()
            .position(|st| s(st.r#type) == parts[1] && s(st.unit) == parts[2])
            .unwrap_or_else(|| panic!("{service}: no pprof column for {id}"));
        let request = SelectMergeStacktracesRequest {
            profile_type_id: id.clone(),
            label_selector: selector.clone(),
            start: 0,
            end,
            max_nodes: Some(1_048_576),
            ..Default::default()
        };
        let response: SelectMergeStacktracesResponse =
            rpc_proto(server, "SelectMergeStacktraces", &request, None).await;
        let graph: FlameGraph = response.flamegraph.unwrap();
        let tree = decode_flamegraph(&graph).unwrap();
        let expected = from_pprof(&profile, index);
        let raw_total: i64 = profile.sample.iter().map(|x| x.value[index]).sum();
        assert_eq!(graph.total, raw_total, "{service} {id}: total");
        assert_eq!(
            from_tree(&tree).self_values,
            expected.self_values,
            "{service} {id}: self"
        );
        assert_eq!(
            from_tree(&tree).inclusive,
            expected.inclusive,
            "{service} {id}: inclusive"
        );

        // The pprof export of the same selection holds the same tree.
        let pprof = SelectMergeStacktracesRequest {
            format: ProfileFormat::Pprof as i32,
            ..request
        };
        let response: SelectMergeStacktracesResponse =
            rpc_proto(server, "SelectMergeStacktraces", &pprof, None).await;
        let exported = pprof_to_tree(&response.pprof.unwrap().profile.unwrap()).unwrap();
        assert_eq!(exported, tree, "{service} {id}: pprof export");

        // And one SUM step over everything is the same total.
        let body = with(
            selection(&id, &selector, 0, end),
            json!({"step": (end / 1000) as f64}),
        );
        let json = rpc_ok(server, "SelectSeries", body, None).await;
        let sum: f64 = json["series"][0]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_f64().unwrap())
            .sum();
        assert_eq!(sum, raw_total as f64, "{service} {id}: series");
    }
}

#[tokio::test]
async fn flame_graph_function_totals_match_the_raw_payloads() {
    // The captures are hours old: no ingestion window, no lookback or length limit.
    let server = KilnServer::builder()
        .any_timestamp()
        .env("KILN_LIMITS__MAX_QUERY_LOOKBACK", "0s")
        .env("KILN_LIMITS__MAX_QUERY_LENGTH", "0s")
        .start()
        .await;
    let payloads = [
        ("go-cpu.pb.gz", "process_cpu", "go-app"),
        ("go-heap.pb.gz", "memory", "go-heap-app"),
        ("nodejs-0.6.4-ingest-wall-cpu.pprof.gz", "wall", "node-app"),
    ];
    for (file, name, service) in payloads {
        push(
            &server,
            None,
            name,
            &[("service_name", service)],
            agent_file(file),
        )
        .await;
    }
    for (file, _, service) in payloads {
        cross_check(&server, service, &agent_file(file)).await;
    }
}
