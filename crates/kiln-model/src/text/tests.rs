use super::*;
use crate::labels::Label;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn stack(s: &str) -> Vec<String> {
    s.split(';').map(String::from).collect()
}

#[test]
fn folded_sums_duplicates_and_skips_blank_lines() {
    let body = "main;work 3\n\n  \nmain;work with space 2\r\nmain;work 4\nmain 1\n";
    let got = parse_folded(body).unwrap();
    assert_eq!(
        got,
        [
            (stack("main;work"), 7),
            (stack("main;work with space"), 2),
            (stack("main"), 1)
        ]
    );
}

#[test]
fn folded_errors_name_the_line() {
    let cases = [
        ("a;b 1\na;b x\n", 2, "invalid sample count"),
        ("a;b\n", 1, "missing sample count"),
        ("a 1\n\nb -4\n", 3, "negative"),
        (" 5\n", 1, "missing sample count"),
        ("a;b 99999999999999999999\n", 1, "invalid sample count"),
        ("a 9223372036854775807\na 1\n", 2, "overflows"),
    ];
    for (body, want_line, want_reason) in cases {
        match parse_folded(body) {
            Err(ModelError::InvalidText {
                format: "folded",
                line,
                reason,
            }) => {
                assert_eq!(line, want_line, "{body:?}");
                assert!(reason.contains(want_reason), "{body:?}: {reason}");
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
}

#[test]
fn lines_count_identical_lines() {
    let got = parse_lines("a;b\na;c\n\na;b\r\na;b\n");
    assert_eq!(got, [(stack("a;b"), 3), (stack("a;c"), 1)]);
}

#[test]
fn profile_from_stacks_builds_frames_and_limits() {
    let stacks = vec![
        (stack("main;work"), 5),
        (stack("main;idle"), 0),
        (stack("main;work"), 2),
        (stack("r;a;b;c;leaf"), 1),
        (vec!["x".repeat(10)], 4),
    ];
    let limits = NormalizeLimits {
        max_stack_depth: 3,
        max_symbol_len: 4,
        ..Default::default()
    };
    let pt = ProfileType::parse("memory:inuse_space:bytes::").unwrap();
    let labels = Labels::new([Label::new("env", "dev")]);
    let p = profile_from_stacks(&stacks, &labels, &pt, 7, 8, 0, "pid", &limits);
    let named: Vec<(Vec<&str>, i64)> = p
        .samples
        .iter()
        .map(|s| {
            (
                s.stack
                    .iter()
                    .map(|&i| p.frames[i as usize].function.as_str())
                    .collect(),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (vec!["main", "work"], 7),
            (vec!["b", "c", "leaf"], 1),
            (vec!["xxxx"], 4)
        ]
    );
    assert_eq!(p.labels.get("service_name"), Some("unknown_service"));
    assert_eq!(p.labels.get("__name__"), Some("memory"));
    assert_eq!(
        p.labels.get("__profile_type__"),
        Some("memory:inuse_space:bytes::")
    );
    assert_eq!(p.labels.get("__period_type__"), Some(""));
    assert_eq!(p.labels.get("env"), Some("dev"));
    assert_eq!(
        (p.time_nanos, p.duration_nanos, p.profile_id.as_str()),
        (7, 8, "pid")
    );
}

#[test]
fn legacy_suffixes() {
    let cases = [
        (
            "app",
            "app",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            true,
        ),
        (
            "a.b.cpu",
            "a.b",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            true,
        ),
        (
            "a.itimer",
            "a",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            true,
        ),
        ("a.wall", "a", "wall:wall:nanoseconds:cpu:nanoseconds", true),
        ("a.inuse_space", "a", "memory:inuse_space:bytes::", false),
        (
            "a.alloc_objects",
            "a",
            "memory:alloc_objects:count::",
            false,
        ),
        ("a.goroutines", "a", "goroutine:goroutines:count::", false),
        ("a.mutex_count", "a", "mutex:contentions:count::", false),
        ("a.mutex_duration", "a", "mutex:delay:nanoseconds::", false),
        ("a.block_duration", "a", "block:delay:nanoseconds::", false),
        ("a.lock_count", "a", "block:contentions:count::", false),
        (
            "a.alloc_in_new_tlab_bytes",
            "a",
            "memory:alloc_in_new_tlab_bytes:bytes::",
            false,
        ),
        (
            "a.alloc_outside_tlab_objects",
            "a",
            "memory:alloc_outside_tlab_objects:count::",
            false,
        ),
        ("a.live", "a", "memory:live:count::", false),
        ("a.exceptions", "a", "exceptions:samples:count::", false),
        ("a.milliseconds", "a", "wall:samples:count::", false),
        ("a.bytes", "a", "memory:samples:bytes::", false),
    ];
    for (name, service, id, scale) in cases {
        let (s, pt, sc) = legacy_profile_type(name).unwrap();
        assert_eq!(
            (s.as_str(), pt.id().as_str(), sc),
            (service, id, scale),
            "{name}"
        );
    }
    assert_eq!(
        legacy_profile_type("pprof.test"),
        Err(ModelError::UnknownProfileType("pprof.test".into()))
    );
}

#[test]
fn legacy_name_parsing() {
    let (app, l) = parse_legacy_name("app.cpu{env = prod , region=eu-1,a=b=c,}").unwrap();
    assert_eq!(app, "app.cpu");
    assert_eq!(
        l,
        [
            Label::new("env", "prod"),
            Label::new("region", "eu-1"),
            Label::new("a", "b=c")
        ]
    );
    assert_eq!(parse_legacy_name("app").unwrap(), ("app".into(), vec![]));
    assert_eq!(parse_legacy_name("app{}").unwrap(), ("app".into(), vec![]));
    let (_, l) = parse_legacy_name("app{__session_id__=1}").unwrap();
    assert_eq!(l, [Label::new("__session_id__", "1")]);
    for bad in [
        "",
        "{a=b}",
        "app{a=b",
        "app{a}",
        "app{=b}",
        "app{a=b}x",
        "app}",
        "app{a{=b}",
    ] {
        assert!(
            matches!(parse_legacy_name(bad), Err(ModelError::InvalidLabels(_))),
            "{bad:?} should be rejected"
        );
    }
}

fn frame() -> impl Strategy<Value = String> {
    // Frames may contain spaces but not start the line with one.
    "[a-zA-Z0-9_:.()<>-][a-zA-Z0-9_:. ()<>-]{0,12}"
}

proptest! {
    #[test]
    fn folded_round_trip(stacks in prop::collection::vec(
        (prop::collection::vec(frame(), 1..6), 0i64..1_000_000), 0..40)
    ) {
        let body: String =
            stacks.iter().map(|(s, n)| format!("{} {n}\n", s.join(";"))).collect();
        let mut want: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for (s, n) in &stacks {
            *want.entry(s.clone()).or_default() += n;
        }
        let parsed = parse_folded(&body).unwrap();
        prop_assert_eq!(parsed.len(), want.len(), "duplicates are summed");
        let got: BTreeMap<Vec<String>, i64> = parsed.into_iter().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn lines_round_trip(stacks in prop::collection::vec(prop::collection::vec(frame(), 1..4), 0..30)) {
        let body: String = stacks.iter().map(|s| format!("{}\n", s.join(";"))).collect();
        let mut want: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for s in &stacks {
            // A trailing space on the leaf is trimmed with the line.
            let mut s = s.clone();
            let leaf = s.last_mut().unwrap();
            *leaf = leaf.trim_end().to_string();
            *want.entry(s).or_default() += 1;
        }
        let got: BTreeMap<Vec<String>, i64> = parse_lines(&body).into_iter().collect();
        prop_assert_eq!(got, want);
    }
}
