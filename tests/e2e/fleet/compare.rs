//! The fleet's answers against the single-process reference's, on the
//! acknowledged profiles.
//!
//! A push that was in flight when its ingester died was not acknowledged
//! but may still have been stored (flushed, then killed before the ack),
//! so the fleet may hold a few profiles the reference never saw. The
//! comparisons therefore select the acknowledged profiles by `push_id`;
//! what the fleet holds beyond them must be unacknowledged pushes only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::workload::{FleetProfile, flamegraph_total, query};
use crate::query::{CPU, selection};

/// The answers compared, by a name used in failure messages.
pub fn comparisons(acked: &[FleetProfile], start: i64, end: i64) -> Vec<(String, String, Value)> {
    let ids = |profiles: &[&FleetProfile]| {
        profiles
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join("|")
    };
    let all: Vec<&FleetProfile> = acked.iter().collect();
    let flamegraph = |selector: String| {
        let mut body = selection(CPU, &selector, start, end);
        body["maxNodes"] = Value::from(1_048_576);
        body
    };
    let mut out = vec![
        (
            "flame graph of every acknowledged push".to_string(),
            "SelectMergeStacktraces".to_string(),
            flamegraph(format!(r#"{{push_id=~"{}"}}"#, ids(&all))),
        ),
        (
            "series of every acknowledged push, by push_id".to_string(),
            "SelectSeries".to_string(),
            {
                let mut body =
                    selection(CPU, &format!(r#"{{push_id=~"{}"}}"#, ids(&all)), start, end);
                body["step"] = json!(60);
                body["groupBy"] = json!(["push_id"]);
                body
            },
        ),
        (
            "profile types".to_string(),
            "ProfileTypes".to_string(),
            json!({"start": start.to_string(), "end": end.to_string()}),
        ),
    ];
    let mut by_service: BTreeMap<&str, Vec<&FleetProfile>> = BTreeMap::new();
    for p in acked {
        by_service.entry(p.service.as_str()).or_default().push(p);
    }
    for (service, profiles) in by_service {
        out.push((
            format!("flame graph of {service}'s acknowledged pushes"),
            "SelectMergeStacktraces".to_string(),
            flamegraph(format!(
                r#"{{service_name="{service}", push_id=~"{}"}}"#,
                ids(&profiles)
            )),
        ));
    }
    out
}

/// Runs every comparison on both; panics naming the first difference.
pub async fn assert_same_answers(
    fleet_url: &str,
    reference_url: &str,
    acked: &[FleetProfile],
    start: i64,
    end: i64,
) {
    for (name, method, body) in comparisons(acked, start, end) {
        let fleet = query(fleet_url, &method, &body)
            .await
            .unwrap_or_else(|e| panic!("{name}: the frontend failed: {e}"));
        let reference = query(reference_url, &method, &body)
            .await
            .unwrap_or_else(|e| panic!("{name}: the reference failed: {e}"));
        assert_eq!(
            fleet, reference,
            "{name}: the fleet's answer differs from the single-process server's"
        );
    }
}

/// Every acknowledged profile is in the fleet, with exactly its total.
pub async fn assert_every_ack_queryable(
    fleet_url: &str,
    acked: &[FleetProfile],
    start: i64,
    end: i64,
) {
    let ids: Vec<&str> = acked.iter().map(|p| p.id.as_str()).collect();
    let mut body = selection(
        CPU,
        &format!(r#"{{push_id=~"{}"}}"#, ids.join("|")),
        start,
        end,
    );
    body["step"] = json!(60);
    body["groupBy"] = json!(["push_id"]);
    let json = query(fleet_url, "SelectSeries", &body)
        .await
        .unwrap_or_else(|e| panic!("SelectSeries by push_id failed: {e}"));
    let mut found: BTreeMap<String, f64> = BTreeMap::new();
    for series in json["series"].as_array().into_iter().flatten() {
        let id = series["labels"]
            .as_array()
            .and_then(|labels| labels.iter().find(|l| l["name"] == "push_id"))
            .and_then(|l| l["value"].as_str())
            .unwrap_or_else(|| panic!("a series without push_id: {series}"))
            .to_string();
        let sum: f64 = series["points"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["value"].as_f64().expect("a numeric point"))
            .sum();
        assert!(
            found.insert(id.clone(), sum).is_none(),
            "{id} twice: {json}"
        );
    }
    let missing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged pushes are not queryable through the frontend: {missing:?}",
        missing.len()
    );
    for p in acked {
        assert_eq!(
            found[&p.id], p.cpu_total as f64,
            "push {}: the fleet's total differs from what was pushed",
            p.id
        );
    }

    let all = format!(r#"{{push_id=~"{}"}}"#, ids.join("|"));
    let mut body = selection(CPU, &all, start, end);
    body["maxNodes"] = Value::from(1_048_576);
    let json = query(fleet_url, "SelectMergeStacktraces", &body)
        .await
        .unwrap_or_else(|e| panic!("SelectMergeStacktraces failed: {e}"));
    let want: i64 = acked.iter().map(|p| p.cpu_total).sum();
    assert_eq!(
        flamegraph_total(&json),
        want,
        "the flame graph of every ack"
    );
}

/// The fleet holds the acknowledged pushes plus, at most, pushes that
/// were attempted and failed (stored by an ingester killed before its ack).
pub async fn assert_nothing_foreign(
    fleet_url: &str,
    acked: &[FleetProfile],
    failed: &[String],
    start: i64,
    end: i64,
) {
    let body = json!({
        "name": "push_id",
        "start": start.to_string(),
        "end": end.to_string(),
    });
    let json = query(fleet_url, "LabelValues", &body)
        .await
        .unwrap_or_else(|e| panic!("LabelValues(push_id) failed: {e}"));
    let values: BTreeSet<&str> = json["names"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("a string value"))
        .collect();
    for p in acked {
        assert!(
            values.contains(p.id.as_str()),
            "{} missing from {json}",
            p.id
        );
    }
    let allowed: BTreeSet<&str> = acked
        .iter()
        .map(|p| p.id.as_str())
        .chain(failed.iter().map(String::as_str))
        .collect();
    let foreign: Vec<&&str> = values.difference(&allowed).collect();
    assert!(foreign.is_empty(), "profiles nobody pushed: {foreign:?}");
}
