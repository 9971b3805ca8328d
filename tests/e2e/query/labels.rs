//! Label APIs with every matcher type, and tenant isolation through every
//! RPC: a second tenant sees nothing of the first, then only its own data.

use serde_json::{Value, json};

use super::*;
use crate::fixtures::PprofBuilder;

async fn push_inuse(
    server: &KilnServer,
    tenant: Option<&str>,
    labels: &[(&str, &str)],
    time_ms: i64,
) {
    let pprof = PprofBuilder::new(&[("inuse_space", "bytes")], ("space", "bytes"), 524_288)
        .time(time_ms * 1_000_000)
        .sample(&["main", "alloc"], &[4096])
        .encode();
    push(server, tenant, "memory", labels, pprof).await;
}

/// Values of `service_name` under `matchers`.
async fn services(server: &KilnServer, matchers: &[&str]) -> Value {
    let body = json!({"name": "service_name", "matchers": matchers});
    rpc_ok(server, "LabelValues", body, None).await
}

#[tokio::test]
async fn label_names_values_and_series_with_every_matcher_type() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let t = minutes_ago(5);
    let checkout = [
        ("service_name", "checkout"),
        ("env", "prod"),
        ("pod", "checkout-0"),
    ];
    let search = [
        ("service_name", "search"),
        ("env", "dev"),
        ("pod", "search-1"),
    ];
    push_cpu(&server, None, &checkout, t, TREE_A).await;
    push_cpu(&server, None, &search, t, TREE_B).await;
    push_inuse(&server, None, &checkout, t).await;

    let json = rpc_ok(&server, "ProfileTypes", json!({}), None).await;
    assert_eq!(
        json,
        json!({"profileTypes": [
            {"ID": INUSE, "name": "memory", "sampleType": "inuse_space", "sampleUnit": "bytes",
             "periodType": "space", "periodUnit": "bytes"},
            {"ID": CPU, "name": "process_cpu", "sampleType": "cpu", "sampleUnit": "nanoseconds",
             "periodType": "cpu", "periodUnit": "nanoseconds"}
        ]})
    );
    // With a range too.
    let body = json!({"start": (t - 60_000).to_string(), "end": (t + 60_000).to_string()});
    assert_eq!(
        rpc_ok(&server, "ProfileTypes", body, None).await["profileTypes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let json = rpc_ok(&server, "LabelNames", json!({"matchers": ["{}"]}), None).await;
    let names: Vec<String> = serde_json::from_value(json["names"].clone()).unwrap();
    for name in ["__name__", "__profile_type__", "env", "pod", "service_name"] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing from {names:?}"
        );
    }
    let public: Vec<&String> = names.iter().filter(|n| !n.starts_with("__")).collect();
    assert_eq!(public, ["env", "pod", "service_name"]);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted");

    // Every matcher type, alone and as a union of selectors.
    assert_eq!(
        services(&server, &[]).await,
        json!({"names": ["checkout", "search"]})
    );
    assert_eq!(
        services(&server, &[r#"{env="prod"}"#]).await,
        json!({"names": ["checkout"]})
    );
    assert_eq!(
        services(&server, &[r#"{env!="prod"}"#]).await,
        json!({"names": ["search"]})
    );
    assert_eq!(
        services(&server, &[r#"{pod=~"search-.*"}"#]).await,
        json!({"names": ["search"]})
    );
    assert_eq!(
        services(&server, &[r#"{pod!~"search-.*"}"#]).await,
        json!({"names": ["checkout"]})
    );
    assert_eq!(services(&server, &[r#"{env="nope"}"#]).await, json!({}));
    assert_eq!(
        services(&server, &[r#"{env="prod"}"#, r#"{pod=~"s.*"}"#]).await,
        json!({"names": ["checkout", "search"]})
    );
    let memory = format!(r#"{{__profile_type__="{INUSE}"}}"#);
    assert_eq!(
        services(&server, &[&memory]).await,
        json!({"names": ["checkout"]})
    );
    let json = rpc_ok(&server, "LabelValues", json!({"name": "__name__"}), None).await;
    assert_eq!(json, json!({"names": ["memory", "process_cpu"]}));

    let body = json!({"matchers": [r#"{service_name="checkout"}"#], "labelNames": ["service_name", "__profile_type__", "env"]});
    let json = rpc_ok(&server, "Series", body, None).await;
    let set = |profile_type: &str| {
        json!({"labels": [
            {"name": "__profile_type__", "value": profile_type},
            {"name": "env", "value": "prod"},
            {"name": "service_name", "value": "checkout"}
        ]})
    };
    assert_eq!(json, json!({"labelsSet": [set(INUSE), set(CPU)]}));

    let json = get(&server.url("/pyroscope/label-values?label=__name__"))
        .await
        .json();
    assert_eq!(json, json!([INUSE, CPU]));
    let json = get(&server.url("/pyroscope/label-values?label=env"))
        .await
        .json();
    assert_eq!(json, json!(["dev", "prod"]));

    let json = rpc_ok(&server, "GetProfileStats", json!({}), None).await;
    assert_eq!(json["dataIngested"], true);
    let oldest: i64 = json["oldestProfileTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(oldest, t);
}

#[tokio::test]
async fn tenants_see_nothing_of_each_other() {
    let server = KilnServer::builder()
        .any_timestamp()
        .multitenant()
        .start()
        .await;
    let (a, b) = (Some("team-a"), Some("team-b"));
    let t = minutes_ago(5);
    push_cpu(
        &server,
        a,
        &[("service_name", "secret-a"), ("env", "a")],
        t,
        TREE_A,
    )
    .await;
    let (start, end) = (t - 60_000, t + 60_000);
    let select = selection(CPU, "{}", start, end);
    let series = with(select.clone(), json!({"step": 15}));
    let diff = json!({"left": select, "right": select});

    // Tenant B, before it has data: empty metadata, and A's profile type is
    // unknown to it, through every RPC that reads profiles.
    for (method, body) in [
        ("ProfileTypes", json!({})),
        ("LabelNames", json!({})),
        ("LabelValues", json!({"name": "service_name"})),
        ("Series", json!({"matchers": ["{}"]})),
        ("GetProfileStats", json!({})),
    ] {
        assert_eq!(
            rpc_ok(&server, method, body, b).await,
            json!({}),
            "{method}"
        );
    }
    for (method, body) in [
        ("SelectMergeStacktraces", select.clone()),
        ("SelectMergeProfile", select.clone()),
        (
            "SelectMergeSpanProfile",
            with(
                select.clone(),
                json!({"spanSelector": ["00000000000000aa"]}),
            ),
        ),
        ("SelectSeries", series.clone()),
        ("Diff", diff.clone()),
    ] {
        let reply = rpc_json(&server, method, body, b).await;
        assert_invalid(&reply, &["unknown profile type", "known types: none"]);
    }
    let render = server.url(&format!(
        "/pyroscope/render?query={}&from={start}&until={end}",
        escape(CPU)
    ));
    let reply = send(
        request(
            hyper::Method::GET,
            &render,
            &[("x-scope-orgid", "team-b")],
            full(Vec::new()),
        ),
        false,
    )
    .await;
    assert_invalid(&reply, &["unknown profile type"]);
    let label_values = server.url("/pyroscope/label-values?label=__name__");
    let reply = send(
        request(
            hyper::Method::GET,
            &label_values,
            &[("x-scope-orgid", "team-b")],
            full(Vec::new()),
        ),
        false,
    )
    .await;
    assert_eq!(reply.json(), json!([]));

    // Once B has data of the same type, it sees exactly its own.
    push_cpu(&server, b, &[("service_name", "mine-b")], t, TREE_B).await;
    let json = rpc_ok(&server, "SelectMergeStacktraces", select.clone(), b).await;
    assert_eq!(json["flamegraph"]["total"], "23");
    let json = rpc_ok(&server, "LabelValues", json!({"name": "service_name"}), b).await;
    assert_eq!(json, json!({"names": ["mine-b"]}));
    let json = rpc_ok(&server, "LabelNames", json!({}), b).await;
    assert!(
        !json["names"].as_array().unwrap().contains(&json!("env")),
        "{json}"
    );
    let json = rpc_ok(&server, "SelectSeries", series.clone(), b).await;
    let total: f64 = json["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 23.0);
    let json = rpc_ok(&server, "Diff", diff.clone(), b).await;
    assert_eq!(
        (
            json["flamegraph"]["leftTicks"].clone(),
            json["flamegraph"]["rightTicks"].clone()
        ),
        (json!("23"), json!("23"))
    );
    // And A still sees only A.
    let json = rpc_ok(&server, "SelectMergeStacktraces", select, a).await;
    assert_eq!(json["flamegraph"]["total"], "52");
    let json = rpc_ok(&server, "LabelValues", json!({"name": "service_name"}), a).await;
    assert_eq!(json, json!({"names": ["secret-a"]}));

    // No tenant header at all: unauthenticated.
    let reply = rpc_json(&server, "ProfileTypes", json!({}), None).await;
    assert_error(&reply, 401, "unauthenticated", &["X-Scope-OrgID"]);
}
