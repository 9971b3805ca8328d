//! `KilnPlanCodec`: physical plans built exactly as the engine builds them
//! survive `datafusion-proto` bytes, are decoded by a *second* engine over
//! the same store (as a remote querier would), and give the same answer;
//! garbage is refused with a clear error.

use crate::common::*;
use arrow::array::{Array, BinaryArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::{PhysicalExtensionNode, PhysicalPlanNode, physical_plan_node};
use kiln_model::tree::Tree;
use kiln_query::{Aggregation, DataFusionEngine, EngineConfig, QueryEngine, SeriesQuery};
use prost::Message;
use std::sync::Arc;

/// Three raw blocks and one rolled-up block of the shared dataset (so scans
/// carry rollup segments as well as raw ones).
async fn env() -> Env {
    let env = Env::memory();
    let data = dataset();
    env.write_split("t", &data, 3).await;
    env.write_rolled_up("t", &data).await;
    env
}

/// `plan` encoded with `from`'s codec, to bytes, and decoded by `to`.
fn ship(
    plan: Arc<dyn ExecutionPlan>,
    from: &DataFusionEngine,
    to: &DataFusionEngine,
) -> Arc<dyn ExecutionPlan> {
    let node = PhysicalPlanNode::try_from_physical_plan(plan, &from.plan_codec()).expect("encode");
    let bytes = node.encode_to_vec();
    PhysicalPlanNode::decode(bytes.as_slice())
        .expect("proto bytes")
        .try_into_physical_plan(to.task_ctx().as_ref(), &to.plan_codec())
        .expect("decode")
}

fn show(plan: &Arc<dyn ExecutionPlan>) -> String {
    displayable(plan.as_ref()).indent(true).to_string()
}

fn tree(batches: &[RecordBatch]) -> Tree {
    let b = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    let bytes = b.column(0).as_any().downcast_ref::<BinaryArray>().unwrap();
    Tree::from_bytes(bytes.value(0)).expect("tree bytes")
}

/// Scan segments the engine has read, over all tables.
fn scans(engine: &DataFusionEngine) -> u64 {
    let s = engine.scan_stats();
    s.samples.scans + s.rollup_1m.scans + s.rollup_1h.scans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flame_graph_plan_round_trips_to_a_second_engine() {
    let env = env().await;
    let remote = env.engine(EngineConfig::default());
    let mut filtered = query("t", &cpu(), "{}", T0, T0 + 200_000);
    filtered.call_site = vec!["main".into(), "serve".into()];
    let mut by_span = query("t", &cpu(), r#"{service_name="api"}"#, T0, T0 + 60_000);
    by_span.span_ids = vec![0];
    for (what, q) in [
        ("whole range", query("t", &cpu(), "{}", T0, T0 + 200_000)),
        (
            "cut range",
            query("t", &cpu(), "{}", T0 + 1_234, T0 + 95_000),
        ),
        ("call site", filtered),
        ("span ids", by_span),
    ] {
        let want = env.engine.merge_tree(&q).await.expect("merge_tree");
        assert!(want.total() > 0, "{what}: dataset selects something");
        let plan = env
            .engine
            .merge_tree_plan(&q)
            .await
            .expect("plan")
            .expect("blocks to read")
            .plan;
        let decoded = ship(plan.clone(), &env.engine, &remote);
        assert_eq!(show(&decoded), show(&plan), "{what}: same plan shape");
        let before = scans(&remote);
        let got = tree(&collect(decoded, remote.task_ctx()).await.expect("run"));
        assert_tree(&got, &want, what);
        assert!(
            scans(&remote) > before,
            "{what}: the decoded plan scans through the second engine"
        );
    }
}

/// `(group_id, bucket, sum, profiles)` rows, sorted.
fn rows(batches: &[RecordBatch]) -> Vec<[i64; 4]> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<Int64Array> = (0..4)
            .map(|i| {
                let c = cast(b.column(i), &DataType::Int64).unwrap();
                c.as_any().downcast_ref::<Int64Array>().unwrap().clone()
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push([0, 1, 2, 3].map(|i| cols[i].value(r)));
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_series_plan_round_trips_to_a_second_engine() {
    let env = env().await;
    let remote = env.engine(EngineConfig::default());
    let plain = SeriesQuery {
        profiles: query("t", &cpu(), "{}", T0, T0 + 120_000),
        step_seconds: 15.0,
        group_by: vec!["pod".into()],
        aggregation: Aggregation::Sum,
        limit: None,
    };
    let mut from_samples = plain.clone();
    from_samples.profiles.call_site = vec!["main".into(), "serve".into()];
    from_samples.aggregation = Aggregation::Average;
    for (what, q) in [("profiles totals", plain), ("call site", from_samples)] {
        let planned = env
            .engine
            .select_series_plan(&q)
            .await
            .expect("plan")
            .expect("blocks to read");
        let want = rows(
            &collect(planned.plan.clone(), env.engine.task_ctx())
                .await
                .expect("run original"),
        );
        assert!(!want.is_empty(), "{what}: dataset selects something");
        let decoded = ship(planned.plan.clone(), &env.engine, &remote);
        assert_eq!(
            show(&decoded),
            show(&planned.plan),
            "{what}: same plan shape"
        );
        let got = rows(&collect(decoded, remote.task_ctx()).await.expect("run"));
        assert_eq!(got, want, "{what}");
        // The series answer the engine gives is built from the same rows.
        let series = env.engine.select_series(&q).await.expect("select_series");
        assert_eq!(series.len(), planned.group_labels.len(), "{what}: groups");
    }
}

fn extension(bytes: &[u8]) -> PhysicalPlanNode {
    PhysicalPlanNode {
        physical_plan_type: Some(physical_plan_node::PhysicalPlanType::Extension(
            PhysicalExtensionNode {
                node: bytes.to_vec(),
                inputs: Vec::new(),
            },
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_extensions_are_refused_clearly() {
    let env = env().await;
    let codec = env.engine.plan_codec();
    let ctx = env.engine.task_ctx();
    let err = extension(b"\xff\xff\xff garbage")
        .try_into_physical_plan(ctx.as_ref(), &codec)
        .expect_err("garbage");
    let msg = err.to_string();
    assert!(
        msg.contains("KilnPlanCodec") && msg.contains("not a BlockScanExec node"),
        "{msg}"
    );
    // Well-formed protobuf naming a table Kiln does not have.
    let err = extension(&[0x08, 0x07])
        .try_into_physical_plan(ctx.as_ref(), &codec)
        .expect_err("unknown table");
    assert!(err.to_string().contains("unknown table 7"), "{err}");
    // A plan whose block meta is not JSON.
    let err = extension(&[0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x12, 0x00])
        .try_into_physical_plan(ctx.as_ref(), &codec)
        .expect_err("corrupt meta");
    assert!(err.to_string().contains("corrupt block meta"), "{err}");
    // Aggregates other than flamegraph are not Kiln's to decode.
    use datafusion_proto::physical_plan::PhysicalExtensionCodec;
    let err = codec
        .try_decode_udaf("mystery", b"")
        .expect_err("unknown udaf");
    assert!(
        err.to_string()
            .contains("unknown aggregate function mystery"),
        "{err}"
    );
}
