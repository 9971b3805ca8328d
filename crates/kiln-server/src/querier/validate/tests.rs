use super::*;
use crate::error::Code;
use kiln_proto::types::v1::{GoPgo, Location};

const HOUR_MS: i64 = 3_600_000;
const NOW: i64 = 1_795_661_386_000;

fn message(err: ApiError) -> String {
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    err.to_string()
}

#[test]
fn profile_range_checks_order_lookback_and_length() {
    let limits = Limits::default(); // 24h length, 7d lookback
    let ok = profile_range(&limits, NOW, NOW - HOUR_MS, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(
        ok,
        TimeRange {
            start_ms: NOW - HOUR_MS,
            end_ms: NOW
        }
    );

    let msg = message(profile_range(&limits, NOW, NOW, NOW - 1).unwrap_err());
    assert!(
        msg.contains("end (") && msg.contains("is before start"),
        "{msg}"
    );

    let msg = message(profile_range(&limits, NOW, NOW - 25 * HOUR_MS, NOW).unwrap_err());
    assert!(msg.contains("exceeds the limit"), "{msg}");
    assert!(
        msg.contains("1day 1h") && msg.contains("limit: 1day"),
        "{msg}"
    );
    assert!(msg.contains("limits.max_query_length"), "{msg}");

    // Start before the 7d lookback is clamped; a range entirely before it is empty.
    let week = 7 * 24 * HOUR_MS;
    let clamped = profile_range(&limits, NOW, NOW - week - HOUR_MS, NOW - week + HOUR_MS)
        .unwrap()
        .unwrap();
    assert_eq!(clamped.start_ms, NOW - week);
    assert_eq!(
        profile_range(&limits, NOW, NOW - week - 2 * HOUR_MS, NOW - week - HOUR_MS).unwrap(),
        None
    );
    // The length is measured after clamping (as Pyroscope does).
    assert!(
        profile_range(&limits, NOW, 0, NOW - week + HOUR_MS)
            .unwrap()
            .is_some()
    );
}

#[test]
fn zero_limits_disable_checks() {
    let limits = Limits {
        max_query_length: Duration::ZERO,
        max_query_lookback: Duration::ZERO,
        ..Limits::default()
    };
    let r = profile_range(&limits, NOW, 0, NOW).unwrap().unwrap();
    assert_eq!(
        r,
        TimeRange {
            start_ms: 0,
            end_ms: NOW
        }
    );
    // Absurd ends are clamped so the engine can convert to nanoseconds.
    let r = profile_range(&limits, NOW, -5, i64::MAX).unwrap().unwrap();
    assert_eq!(
        r,
        TimeRange {
            start_ms: 0,
            end_ms: MAX_TIME_MS
        }
    );
    assert_eq!(lookback_start(&limits, NOW), None);
}

#[test]
fn labels_range_zero_is_all_time_within_lookback() {
    let limits = Limits::default();
    let week = 7 * 24 * HOUR_MS;
    let r = labels_range(&limits, NOW, 0, 0).unwrap().unwrap();
    assert_eq!(
        r,
        TimeRange {
            start_ms: NOW - week,
            end_ms: MAX_TIME_MS
        }
    );
    // No length limit for label APIs.
    assert!(
        labels_range(&limits, NOW, NOW - week, NOW)
            .unwrap()
            .is_some()
    );
    let msg = message(labels_range(&limits, NOW, NOW, NOW - 1).unwrap_err());
    assert!(msg.contains("is before start"), "{msg}");
    assert_eq!(labels_range(&limits, NOW, 1, 2).unwrap(), None);
}

#[test]
fn profile_type_and_selector_messages_name_the_field() {
    let pt = profile_type(
        "profile_typeID",
        "memory:alloc_space:bytes:space:bytes:delta",
    )
    .unwrap();
    assert_eq!(pt.id(), "memory:alloc_space:bytes:space:bytes");
    let msg = message(profile_type("profile_typeID", "").unwrap_err());
    assert!(msg.starts_with("profile_typeID is required"), "{msg}");
    let msg = message(profile_type("left.profile_typeID", "cpu").unwrap_err());
    assert!(
        msg.starts_with("left.profile_typeID: invalid profile type id \"cpu\""),
        "{msg}"
    );

    assert!(selector("label_selector", "").unwrap().is_empty());
    assert!(selector("label_selector", "  ").unwrap().is_empty());
    let s = selector("label_selector", r#"{service_name="a", pod=~"p.*"}"#).unwrap();
    assert_eq!(s.matchers().len(), 2);
    let msg = message(selector("label_selector", r#"{service_name="a""#).unwrap_err());
    assert!(
        msg.starts_with("label_selector: invalid label selector"),
        "{msg}"
    );
    let msg = message(selectors("matchers", &["{}".into(), "{a=~\"(\"}".into()]).unwrap_err());
    assert!(msg.contains("invalid regex"), "{msg}");
}

#[test]
fn max_nodes_default_max_and_negative() {
    let limits = Limits::default();
    assert_eq!(max_nodes(&limits, None).unwrap(), 8192);
    assert_eq!(max_nodes(&limits, Some(0)).unwrap(), 8192);
    assert_eq!(max_nodes(&limits, Some(16)).unwrap(), 16);
    assert_eq!(max_nodes(&limits, Some(1_048_576)).unwrap(), 1_048_576);
    let msg = message(max_nodes(&limits, Some(1_048_577)).unwrap_err());
    assert!(
        msg.contains("max_nodes exceeds the limit") && msg.contains("1048576"),
        "{msg}"
    );
    let msg = message(max_nodes(&limits, Some(-1)).unwrap_err());
    assert!(msg.contains("max_nodes must be positive"), "{msg}");

    // Max disabled: anything goes, negative means no limit to the encoders.
    let open = Limits {
        max_flamegraph_nodes_max: 0,
        max_flamegraph_nodes_default: 0,
        ..Limits::default()
    };
    assert_eq!(max_nodes(&open, Some(-1)).unwrap(), -1);
    assert_eq!(max_nodes(&open, Some(5_000_000)).unwrap(), 5_000_000);
    assert_eq!(max_nodes(&open, None).unwrap(), 0);
}

#[test]
fn step_group_by_aggregation_and_enums() {
    assert_eq!(step(15.0).unwrap(), 15.0);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let msg = message(step(bad).unwrap_err());
        assert!(msg.contains("step must be a positive number"), "{msg}");
    }
    assert!(message(step(0.0001).unwrap_err()).contains("at least 0.001"));

    let names = ["pod".to_string(), "_x1".into(), "pod".into()];
    assert_eq!(group_by(&names).unwrap(), vec!["pod", "_x1"]);
    for bad in ["", "1pod", "service.name", "a-b"] {
        let msg = message(group_by(&[bad.to_string()]).unwrap_err());
        assert!(msg.contains("invalid group_by label name"), "{msg}");
    }

    assert_eq!(aggregation(None).unwrap(), Aggregation::Sum);
    assert_eq!(aggregation(Some(0)).unwrap(), Aggregation::Sum);
    assert_eq!(aggregation(Some(1)).unwrap(), Aggregation::Average);
    assert!(message(aggregation(Some(7)).unwrap_err()).contains("unknown aggregation 7"));
    assert_eq!(exemplar_type(2).unwrap(), ExemplarType::Individual);
    assert!(message(exemplar_type(9).unwrap_err()).contains("unknown exemplar_type 9"));
    assert_eq!(format(4).unwrap(), ProfileFormat::Pprof);
    assert!(message(format(42).unwrap_err()).contains("unknown format 42"));
}

#[test]
fn span_and_profile_ids() {
    let spans = span_ids(
        "span_selector",
        &["00000000000000ff".into(), "A000000000000001".into()],
    );
    assert_eq!(spans.unwrap(), vec![255, 0xa000_0000_0000_0001]);
    let msg = message(span_ids("span_selector", &["xyz".into()]).unwrap_err());
    assert!(
        msg.contains("invalid span id \"xyz\" in span_selector"),
        "{msg}"
    );

    let ids = profile_ids(
        "profile_id_selector",
        &["01890C4E-5C3A-7B2E-9F00-0123456789AB".into()],
    );
    assert_eq!(ids.unwrap(), vec!["01890c4e-5c3a-7b2e-9f00-0123456789ab"]);
    let msg = message(profile_ids("profile_id_selector", &["nope".into()]).unwrap_err());
    assert!(msg.contains("invalid profile id \"nope\""), "{msg}");
}

#[test]
fn call_site_is_ignored_under_go_pgo() {
    let mut s = StackTraceSelector {
        call_site: vec![
            Location {
                name: "main".into(),
            },
            Location {
                name: "work".into(),
            },
        ],
        go_pgo: None,
    };
    assert_eq!(call_site(Some(&s)), vec!["main", "work"]);
    s.go_pgo = Some(GoPgo {
        keep_locations: 3,
        aggregate_callees: true,
    });
    assert!(call_site(Some(&s)).is_empty());
    assert!(call_site(None).is_empty());
}
