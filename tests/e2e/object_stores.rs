//! `kiln server` on real object-store APIs: S3 (moto) and Azure Blob
//! (Azurite), started on loopback by the test (`kiln_store::emulators`)
//! and configured the way an operator would: `KILN_STORAGE__*` settings
//! plus the cloud's standard credential variables. Push, query, restart
//! (`kill -9`), query again: the same answer, read back from the bucket.

use futures::TryStreamExt;
use kiln_proto::querier::v1::{SelectMergeStacktracesRequest, SelectMergeStacktracesResponse};
use kiln_store::emulators::{Emulator, EmulatorKind, unique_prefix};
use kiln_store::open_store;
use object_store::ObjectStore;

use crate::fixtures::decode_pprof;
use crate::harness::agent_file;
use crate::query::{CPU, TREE_A, minutes_ago, now_ms, push, push_cpu, rpc_proto};
use crate::server::*;

const GO_CPU: &str = "go-cpu.pb.gz";

/// Flame-graph totals of the two services pushed below.
async fn totals(server: &KilnServer) -> (i64, i64) {
    let total = |selector: &str| SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: selector.into(),
        start: 0,
        end: now_ms() + 3_600_000,
        max_nodes: Some(1_048_576),
        ..Default::default()
    };
    let mut out = Vec::new();
    for selector in [r#"{service_name="checkout"}"#, r#"{service_name="go-app"}"#] {
        let response: SelectMergeStacktracesResponse =
            rpc_proto(server, "SelectMergeStacktraces", &total(selector), None).await;
        out.push(response.flamegraph.expect("a flame graph").total);
    }
    (out[0], out[1])
}

async fn push_query_restart_query(kind: EmulatorKind) {
    let emulator = tokio::task::spawn_blocking(move || Emulator::shared(kind))
        .await
        .expect("starting the emulator");
    let prefix = unique_prefix("e2e");
    // The captured payload is hours old: no ingestion window, no lookback.
    let mut builder = KilnServer::builder()
        .any_timestamp()
        .env("KILN_LIMITS__MAX_QUERY_LOOKBACK", "0s")
        .env("KILN_LIMITS__MAX_QUERY_LENGTH", "0s");
    for (name, value) in emulator.server_env(&prefix) {
        builder = builder.env(&name, &value);
    }
    let mut server = builder.start().await;

    push_cpu(
        &server,
        None,
        &[("service_name", "checkout")],
        minutes_ago(5),
        TREE_A,
    )
    .await;
    push(
        &server,
        None,
        "process_cpu",
        &[("service_name", "go-app")],
        agent_file(GO_CPU),
    )
    .await;
    let go_cpu = decode_pprof(&agent_file(GO_CPU));
    let cpu_column = go_cpu
        .sample_type
        .iter()
        .position(|st| go_cpu.string_table[st.r#type as usize] == "cpu")
        .expect("a cpu column");
    let go_total: i64 = go_cpu.sample.iter().map(|s| s.value[cpu_column]).sum();

    let before = totals(&server).await;
    assert_eq!(before, (52, go_total), "{}", kind.name());

    server.restart().await;
    assert_eq!(
        totals(&server).await,
        before,
        "{}: same answer after a restart",
        kind.name()
    );

    // Everything lives in the bucket under the prefix, nothing on disk.
    let store = open_store(&emulator.store_config(&prefix)).expect("open the bucket");
    let names: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list the bucket");
    assert!(
        names.iter().any(|n| n.starts_with("metastore/log/")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("tenants/anonymous/blocks/") && n.ends_with("/meta.json")),
        "{names:?}"
    );
    assert!(
        !server.data_dir().join("tenants").exists(),
        "the filesystem store was not used"
    );
}

#[tokio::test]
async fn s3_push_query_restart_query() {
    push_query_restart_query(EmulatorKind::S3).await;
}

#[tokio::test]
async fn azure_push_query_restart_query() {
    push_query_restart_query(EmulatorKind::Azure).await;
}

#[tokio::test]
async fn missing_bucket_stops_the_server_with_a_clear_error() {
    let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::S3))
        .await
        .expect("starting the emulator");
    let mut command = std::process::Command::new(crate::harness::kiln_bin());
    command.arg("server").arg("--listen").arg("127.0.0.1:0");
    for (name, _) in std::env::vars() {
        if name.starts_with("KILN_") {
            command.env_remove(name);
        }
    }
    for (name, value) in emulator.server_env("p") {
        command.env(name, value);
    }
    let output = command
        .env("KILN_STORAGE__S3__BUCKET", "no-such-bucket")
        .env("NO_COLOR", "1")
        .output()
        .expect("running kiln");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("s3://no-such-bucket/p"), "{stderr}");
    assert!(stderr.contains("[storage.s3]"), "{stderr}");

    let output = std::process::Command::new(crate::harness::kiln_bin())
        .arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("KILN_STORAGE__BACKEND", "azure")
        .output()
        .expect("running kiln");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("storage.azure.container"), "{stderr}");
}
