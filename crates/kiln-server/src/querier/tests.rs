//! Handler tests against a recording fake engine and a manual clock: what
//! reaches the engine (tenant, profile type, selector, range, selectors),
//! validation messages, and the answers that need no engine at all.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kiln_model::clock::ManualClock;
use kiln_model::flamegraph::decode_flamegraph;
use kiln_model::selector::Selector;
use kiln_model::tree::Tree;
use kiln_model::{Label, Labels, ProfileType};
use kiln_proto::querier::v1::{
    AnalyzeQueryRequest, DiffRequest, ProfileFormat, ProfileTypesRequest, SelectHeatmapRequest,
    SelectMergeProfileRequest, SelectMergeSpanProfileRequest, SelectMergeStacktracesRequest,
    SelectSeriesRequest, SeriesRequest,
};
use kiln_proto::types::v1::{
    Exemplar, LabelNamesRequest, LabelValuesRequest, Location, Point, Series, StackTraceSelector,
};
use kiln_query::{
    Aggregation, LabelsQuery, ProfileQuery, ProfileStats, QueryEngine, QueryError, SeriesQuery,
};

use super::*;

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const HOUR_MS: i64 = 3_600_000;
/// 2026-11-26T00:00:00Z, in ms.
const NOW_MS: i64 = 1_795_651_200_000;

/// What the engine was asked.
#[derive(Debug, Clone)]
enum Call {
    Merge(ProfileQuery),
    Series(SeriesQuery),
    Types(String, i64, i64),
    Names(LabelsQuery),
    Values(LabelsQuery),
    SeriesLabels(LabelsQuery),
    Stats,
}

#[derive(Debug, Default)]
struct FakeEngine {
    tree: Tree,
    types: Vec<ProfileType>,
    names: Vec<String>,
    series: Vec<Series>,
    calls: Mutex<Vec<Call>>,
}

impl FakeEngine {
    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn merges(&self) -> Vec<ProfileQuery> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Merge(q) => Some(q),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl QueryEngine for FakeEngine {
    async fn merge_tree(&self, query: &ProfileQuery) -> Result<Tree, QueryError> {
        self.record(Call::Merge(query.clone()));
        Ok(self.tree.clone())
    }
    async fn select_series(&self, query: &SeriesQuery) -> Result<Vec<Series>, QueryError> {
        self.record(Call::Series(query.clone()));
        Ok(self.series.clone())
    }
    async fn profile_types(
        &self,
        tenant: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ProfileType>, QueryError> {
        self.record(Call::Types(tenant.into(), start_ms, end_ms));
        Ok(self.types.clone())
    }
    async fn label_names(&self, query: &LabelsQuery) -> Result<Vec<String>, QueryError> {
        self.record(Call::Names(query.clone()));
        Ok(self.names.clone())
    }
    async fn label_values(
        &self,
        query: &LabelsQuery,
        name: &str,
    ) -> Result<Vec<String>, QueryError> {
        assert_eq!(name, "pod");
        self.record(Call::Values(query.clone()));
        Ok(vec!["b".into(), "a".into(), "a".into()])
    }
    async fn series(
        &self,
        query: &LabelsQuery,
        label_names: &[String],
    ) -> Result<Vec<Labels>, QueryError> {
        assert_eq!(label_names, ["service_name"]);
        self.record(Call::SeriesLabels(query.clone()));
        Ok(vec![
            Labels::new([Label::new("service_name", "b")]),
            Labels::new([Label::new("service_name", "a")]),
        ])
    }
    async fn profile_stats(&self, tenant: &str) -> Result<ProfileStats, QueryError> {
        assert_eq!(tenant, "t");
        self.record(Call::Stats);
        Ok(ProfileStats {
            data_ingested: true,
            oldest_profile_ms: 1,
            newest_profile_ms: 2,
        })
    }
}

fn engine() -> FakeEngine {
    let mut tree = Tree::new();
    tree.insert_stack(["main", "work"], 30);
    tree.insert_stack(["main"], 10);
    FakeEngine {
        tree,
        types: vec![ProfileType::parse(CPU).unwrap()],
        names: vec![
            "__name__".into(),
            "pod".into(),
            "service.name".into(),
            "service_name".into(),
        ],
        ..Default::default()
    }
}

fn querier_with(engine: FakeEngine, config: KilnConfig) -> (Querier, Arc<FakeEngine>) {
    let engine = Arc::new(engine);
    let clock = Arc::new(ManualClock::new(NOW_MS * 1_000_000));
    (
        Querier::new(engine.clone(), Arc::new(config), clock),
        engine,
    )
}

fn querier() -> (Querier, Arc<FakeEngine>) {
    querier_with(engine(), KilnConfig::default())
}

fn stacktraces(format: ProfileFormat) -> SelectMergeStacktracesRequest {
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: r#"{service_name="app"}"#.into(),
        start: NOW_MS - HOUR_MS,
        end: NOW_MS,
        format: format as i32,
        ..Default::default()
    }
}

fn invalid_message<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
    let err = result.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    err.to_string()
}

#[tokio::test]
async fn select_merge_stacktraces_hands_the_engine_a_scoped_query() {
    let (q, engine) = querier();
    let mut request = stacktraces(ProfileFormat::Unspecified);
    request.stack_trace_selector = Some(StackTraceSelector {
        call_site: vec![Location {
            name: "main".into(),
        }],
        go_pgo: None,
    });
    request.profile_id_selector = vec!["01890C4E-5C3A-7B2E-9F00-0123456789AB".into()];
    request.span_selector = vec!["00000000000000ff".into()];
    let response = q
        .select_merge_stacktraces("tenant-a", request)
        .await
        .unwrap();
    let graph = response.flamegraph.unwrap();
    assert_eq!(decode_flamegraph(&graph).unwrap(), engine.tree);

    let calls = engine.calls();
    // The type is checked against the tenant's types over the lookback window.
    let week = 7 * 24 * HOUR_MS;
    assert!(
        matches!(&calls[0], Call::Types(t, s, e) if t == "tenant-a" && *s == NOW_MS - week && *e == validate::MAX_TIME_MS),
        "{calls:?}"
    );
    let merge = &engine.merges()[0];
    assert_eq!(merge.tenant, "tenant-a");
    assert_eq!(merge.profile_type.id(), CPU);
    assert_eq!(
        merge.selector,
        Selector::parse(r#"{service_name="app"}"#).unwrap()
    );
    assert_eq!((merge.start_ms, merge.end_ms), (NOW_MS - HOUR_MS, NOW_MS));
    assert_eq!(merge.call_site, vec!["main"]);
    assert_eq!(
        merge.profile_ids,
        vec!["01890c4e-5c3a-7b2e-9f00-0123456789ab"]
    );
    assert_eq!(merge.span_ids, vec![255]);
}

#[tokio::test]
async fn formats_tree_pprof_and_dot() {
    let (q, engine) = querier();
    let tree = q
        .select_merge_stacktraces("t", stacktraces(ProfileFormat::Tree))
        .await
        .unwrap();
    assert!(tree.flamegraph.is_none());
    let parsed = kiln_model::tree_bytes::parse_tree_bytes(&tree.tree).unwrap();
    assert_eq!(parsed, engine.tree);

    let pprof = q
        .select_merge_stacktraces("t", stacktraces(ProfileFormat::Pprof))
        .await
        .unwrap();
    let profile = pprof.pprof.unwrap().profile.unwrap();
    assert_eq!(
        kiln_model::tree_pprof::pprof_to_tree(&profile).unwrap(),
        engine.tree
    );
    assert_eq!(profile.time_nanos, (NOW_MS - HOUR_MS) * 1_000_000);
    assert_eq!(profile.duration_nanos, HOUR_MS * 1_000_000);

    let err = q
        .select_merge_stacktraces("t", stacktraces(ProfileFormat::Dot))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.to_string().contains("PROFILE_FORMAT_DOT"), "{err}");
    let mut traced = stacktraces(ProfileFormat::Flamegraph);
    traced.trace_id_selector = vec!["0".repeat(32)];
    let err = q.select_merge_stacktraces("t", traced).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

/// Breaks one field of a good request.
type Mutation = Box<dyn Fn(&mut SelectMergeStacktracesRequest)>;

#[tokio::test]
async fn bad_queries_are_invalid_arguments_naming_the_problem() {
    let (q, _) = querier();
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|r| r.label_selector = "{service_name=}".into()),
            "label_selector: invalid label selector",
        ),
        (
            Box::new(|r| r.profile_type_id = "cpu".into()),
            "invalid profile type id \"cpu\"",
        ),
        (
            Box::new(|r| r.profile_type_id = "a:b:c:d:e".into()),
            "unknown profile type \"a:b:c:d:e\"",
        ),
        (Box::new(|r| r.end = r.start - 1), "is before start"),
        (
            Box::new(|r| r.start = r.end - 25 * HOUR_MS),
            "exceeds the limit",
        ),
        (
            Box::new(|r| r.max_nodes = Some(-1)),
            "max_nodes must be positive",
        ),
        (
            Box::new(|r| r.max_nodes = Some(2_000_000)),
            "max_nodes exceeds the limit",
        ),
        (Box::new(|r| r.format = 17), "unknown format 17"),
        (
            Box::new(|r| r.span_selector = vec!["zz".into()]),
            "invalid span id",
        ),
    ];
    for (mutate, expected) in cases {
        let mut request = stacktraces(ProfileFormat::Flamegraph);
        mutate(&mut request);
        let msg = invalid_message(q.select_merge_stacktraces("t", request).await);
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
    // The unknown type's message lists the known ones.
    let mut request = stacktraces(ProfileFormat::Flamegraph);
    request.profile_type_id = "a:b:c:d:e".into();
    let msg = invalid_message(q.select_merge_stacktraces("t", request).await);
    assert!(msg.contains(&format!("known types: {CPU}")), "{msg}");
}

#[tokio::test]
async fn range_before_the_lookback_is_empty_without_reading() {
    let (q, engine) = querier();
    let mut request = stacktraces(ProfileFormat::Flamegraph);
    request.start = NOW_MS - 10 * 24 * HOUR_MS;
    request.end = NOW_MS - 9 * 24 * HOUR_MS;
    let graph = q
        .select_merge_stacktraces("t", request)
        .await
        .unwrap()
        .flamegraph
        .unwrap();
    assert_eq!(graph.names, vec!["total"]);
    assert_eq!(graph.total, 0);
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());
}

#[tokio::test]
async fn select_merge_profile_ignores_node_limits_unless_configured() {
    let mut big = engine();
    for i in 0..20 {
        big.tree
            .insert_stack(["main".to_string(), format!("f{i:02}")], i + 1);
    }
    let request = SelectMergeProfileRequest {
        profile_type_id: CPU.into(),
        start: NOW_MS - HOUR_MS,
        end: NOW_MS,
        max_nodes: Some(-5),
        ..Default::default()
    };
    let (q, engine) = querier_with(big, KilnConfig::default());
    let profile = q.select_merge_profile("t", request.clone()).await.unwrap();
    assert_eq!(
        kiln_model::tree_pprof::pprof_to_tree(&profile).unwrap(),
        engine.tree
    );
    // A positive max_nodes truncates (into `other`), totals conserved.
    let truncated = q
        .select_merge_profile(
            "t",
            SelectMergeProfileRequest {
                max_nodes: Some(3),
                ..request.clone()
            },
        )
        .await
        .unwrap();
    let tree = kiln_model::tree_pprof::pprof_to_tree(&truncated).unwrap();
    assert_eq!(tree.total(), engine.tree.total());
    assert!(tree.node_count() < engine.tree.node_count());

    let mut config = KilnConfig::default();
    config.limits.max_flamegraph_nodes_on_select_merge_profile = true;
    let (q, _) = querier_with(engine_clone(&engine), config);
    let msg = invalid_message(q.select_merge_profile("t", request).await);
    assert!(msg.contains("max_nodes must be positive"), "{msg}");
}

fn engine_clone(e: &FakeEngine) -> FakeEngine {
    FakeEngine {
        tree: e.tree.clone(),
        types: e.types.clone(),
        names: e.names.clone(),
        series: e.series.clone(),
        calls: Mutex::default(),
    }
}

#[tokio::test]
async fn select_series_validates_and_passes_options() {
    let mut fake = engine();
    fake.series = vec![Series {
        labels: vec![],
        points: vec![Point {
            value: 3.0,
            timestamp: NOW_MS,
            annotations: vec![],
            exemplars: vec![Exemplar::default()],
        }],
    }];
    let (q, engine) = querier_with(fake, KilnConfig::default());
    let request = SelectSeriesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{}".into(),
        start: NOW_MS - HOUR_MS,
        end: NOW_MS,
        step: 15.0,
        group_by: vec!["pod".into(), "pod".into()],
        aggregation: Some(1),
        limit: Some(2),
        exemplar_type: 0,
        ..Default::default()
    };
    let response = q.select_series("t", request.clone()).await.unwrap();
    assert!(
        response.series[0].points[0].exemplars.is_empty(),
        "unrequested exemplars are dropped"
    );
    let series_query = engine
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::Series(s) => Some(s),
            _ => None,
        })
        .unwrap();
    assert_eq!(series_query.group_by, vec!["pod"]);
    assert_eq!(series_query.aggregation, Aggregation::Average);
    assert_eq!(series_query.limit, Some(2));
    assert_eq!(series_query.step_seconds, 15.0);
    // group_by existence is checked on the selected series (type ANDed in).
    let names_query = engine
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::Names(q) => Some(q),
            _ => None,
        })
        .unwrap();
    assert_eq!(names_query.selectors[0].profile_type(), Some(CPU));

    let with_exemplars = SelectSeriesRequest {
        exemplar_type: 2,
        ..request.clone()
    };
    let response = q.select_series("t", with_exemplars).await.unwrap();
    assert_eq!(response.series[0].points[0].exemplars.len(), 1);

    for (mutate, expected) in [
        (
            SelectSeriesRequest {
                step: 0.0,
                ..request.clone()
            },
            "step must be a positive",
        ),
        (
            SelectSeriesRequest {
                group_by: vec!["a.b".into()],
                ..request.clone()
            },
            "invalid group_by label name",
        ),
        (
            SelectSeriesRequest {
                group_by: vec!["nope".into()],
                ..request.clone()
            },
            "unknown group_by label \"nope\"",
        ),
        (
            SelectSeriesRequest {
                aggregation: Some(5),
                ..request.clone()
            },
            "unknown aggregation",
        ),
    ] {
        let msg = invalid_message(q.select_series("t", mutate).await);
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
}

#[tokio::test]
async fn diff_checks_sides_and_types() {
    let (q, engine) = querier();
    let left = stacktraces(ProfileFormat::Tree);
    let right = SelectMergeStacktracesRequest {
        label_selector: r#"{service_name="other"}"#.into(),
        ..stacktraces(ProfileFormat::Flamegraph)
    };
    let response = q
        .diff(
            "t",
            DiffRequest {
                left: Some(left.clone()),
                right: Some(right.clone()),
            },
        )
        .await
        .unwrap();
    let diff = response.flamegraph.unwrap();
    assert_eq!(
        (diff.left_ticks, diff.right_ticks, diff.total),
        (40, 40, 80)
    );
    let selectors: Vec<String> = engine
        .merges()
        .iter()
        .map(|m| m.selector.to_string())
        .collect();
    assert!(
        selectors.contains(&r#"{service_name="other"}"#.to_string()),
        "{selectors:?}"
    );

    let msg = invalid_message(
        q.diff(
            "t",
            DiffRequest {
                left: None,
                right: Some(right.clone()),
            },
        )
        .await,
    );
    assert!(msg.starts_with("left is required"), "{msg}");
    let other_type = SelectMergeStacktracesRequest {
        profile_type_id: "memory:inuse_space:bytes:space:bytes".into(),
        ..right.clone()
    };
    let msg = invalid_message(
        q.diff(
            "t",
            DiffRequest {
                left: Some(left.clone()),
                right: Some(other_type),
            },
        )
        .await,
    );
    assert!(msg.contains("same profile type"), "{msg}");
    let bad = SelectMergeStacktracesRequest {
        label_selector: "{".into(),
        ..right
    };
    let msg = invalid_message(
        q.diff(
            "t",
            DiffRequest {
                left: Some(left),
                right: Some(bad),
            },
        )
        .await,
    );
    assert!(msg.starts_with("right.label_selector:"), "{msg}");
}

#[tokio::test]
async fn span_profile_needs_spans_and_supported_formats() {
    let (q, engine) = querier();
    let request = SelectMergeSpanProfileRequest {
        profile_type_id: CPU.into(),
        start: NOW_MS - HOUR_MS,
        end: NOW_MS,
        format: ProfileFormat::Tree as i32,
        ..Default::default()
    };
    let empty = q
        .select_merge_span_profile("t", request.clone())
        .await
        .unwrap();
    assert!(empty.tree.is_empty());
    assert!(engine.merges().is_empty());
    let with_span = SelectMergeSpanProfileRequest {
        span_selector: vec!["0000000000000001".into()],
        format: 0,
        ..request.clone()
    };
    let graph = q
        .select_merge_span_profile("t", with_span)
        .await
        .unwrap()
        .flamegraph
        .unwrap();
    assert_eq!(graph.total, 40);
    assert_eq!(engine.merges()[0].span_ids, vec![1]);
    let pprof = SelectMergeSpanProfileRequest {
        format: ProfileFormat::Pprof as i32,
        ..request
    };
    let err = q.select_merge_span_profile("t", pprof).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test]
async fn label_apis_scope_by_tenant_and_treat_zero_as_all_time() {
    let (q, engine) = querier();
    let types = q
        .profile_types("t", ProfileTypesRequest::default())
        .await
        .unwrap();
    assert_eq!(types.profile_types[0].id, CPU);
    assert_eq!(types.profile_types[0].sample_type, "cpu");
    assert_eq!(types.profile_types[0].period_unit, "nanoseconds");

    let names = q
        .label_names(
            "t",
            false,
            LabelNamesRequest {
                matchers: vec!["".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        names.names,
        vec!["__name__", "pod", "service_name"],
        "dotted names need utf8"
    );
    let names = q
        .label_names("t", true, LabelNamesRequest::default())
        .await
        .unwrap();
    assert!(names.names.contains(&"service.name".to_string()));

    let values = q
        .label_values(
            "t",
            LabelValuesRequest {
                name: "pod".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(values.names, vec!["a", "b"]);
    let none = q
        .label_values("t", LabelValuesRequest::default())
        .await
        .unwrap();
    assert!(none.names.is_empty());

    let series = q
        .series(
            "t",
            SeriesRequest {
                label_names: vec!["service_name".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(series.labels_set[0].labels[0].value, "a", "sorted");

    for call in engine.calls() {
        let (tenant, start, end) = match call {
            Call::Types(t, s, e) => (t, s, e),
            Call::Names(q) | Call::Values(q) | Call::SeriesLabels(q) => {
                (q.tenant, q.start_ms, q.end_ms)
            }
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(tenant, "t");
        assert_eq!(
            (start, end),
            (NOW_MS - 7 * 24 * HOUR_MS, validate::MAX_TIME_MS)
        );
    }
    let msg = invalid_message(
        q.label_names(
            "t",
            true,
            LabelNamesRequest {
                start: 5,
                end: 4,
                ..Default::default()
            },
        )
        .await,
    );
    assert!(msg.contains("is before start"), "{msg}");

    let stats = q.get_profile_stats("t", Default::default()).await.unwrap();
    assert!(stats.data_ingested);
    assert_eq!(
        (stats.oldest_profile_time, stats.newest_profile_time),
        (1, 2)
    );
}

#[tokio::test]
async fn unsupported_rpcs_say_so() {
    let (q, _) = querier();
    let err = q
        .select_heatmap("t", SelectHeatmapRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let err = q
        .analyze_query("t", AnalyzeQueryRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[test]
fn engine_errors_keep_their_class() {
    let err = query_error(QueryError::InvalidArgument("bad".into()));
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (Code::InvalidArgument, "bad")
    );
    assert_eq!(
        query_error(QueryError::Internal("x".into())).code(),
        Code::Internal
    );
}
