use super::*;

const NOW: i64 = 1_795_661_386 * 1_000_000_000;

fn agent_file(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/testdata/agents/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("missing test payload {path}: {e}"))
}

fn params(name: &str, format: Option<&str>) -> LegacyParams {
    LegacyParams {
        name: name.into(),
        from: Some("1795661376".into()),
        until: Some("1795661386".into()),
        format: format.map(Into::into),
        sample_rate: Some("100".into()),
        spy_name: Some("test-spy".into()),
        content_type: Some("binary/octet-stream".into()),
    }
}

fn limits() -> NormalizeLimits {
    NormalizeLimits::default()
}

#[test]
fn nodejs_raw_gzipped_pprof_without_content_encoding() {
    let p = params(
        "probe.node{otel.scope.name=com.grafana.pyroscope/nodejs,env=test}",
        Some("pprof"),
    );
    let body = agent_file("nodejs-0.6.4-ingest-wall-cpu.pprof.gz");
    let decoded = convert_legacy(&p, LegacyBody::Raw(body), &limits(), NOW).unwrap();
    let types: Vec<String> = decoded
        .profiles
        .iter()
        .map(|p| p.profile_type.id())
        .collect();
    assert!(
        types.contains(&"wall:wall:nanoseconds:wall:nanoseconds".to_string()),
        "{types:?}"
    );
    assert!(
        types.contains(&"process_cpu:cpu:nanoseconds:wall:nanoseconds".to_string()),
        "{types:?}"
    );
    let first = &decoded.profiles[0];
    assert_eq!(first.service_name(), "probe.node");
    assert_eq!(first.labels.get("env"), Some("test"));
    assert_eq!(
        first.labels.get("otel_scope_name"),
        Some("com.grafana.pyroscope/nodejs")
    );
    assert_eq!(first.labels.get("pyroscope_spy"), Some("test-spy"));
    assert!(decoded.decompressed_bytes > 0);
}

#[test]
fn rust_folded_cpu_is_scaled_to_nanoseconds() {
    let p = params("probe.rustlegacy.cpu{env=test}", Some("folded"));
    let body = agent_file("rust-pyroscope-0.5.8-ingest-folded.body.gz");
    let raw = pprof::decompress_if_gzip(&body, 1 << 20)
        .unwrap()
        .into_owned();
    let text = String::from_utf8(raw).unwrap();
    let count: i64 = text
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, n)| n.trim().parse::<i64>().unwrap())
        .sum();

    let decoded = convert_legacy(&p, LegacyBody::Raw(body), &limits(), NOW).unwrap();
    assert_eq!(decoded.profiles.len(), 1);
    let profile = &decoded.profiles[0];
    assert_eq!(
        profile.profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(profile.service_name(), "probe.rustlegacy");
    assert_eq!(
        profile.total(),
        count * 10_000_000,
        "100 Hz → 10 ms per sample"
    );
    assert_eq!(profile.period, 10_000_000);
    assert_eq!(profile.time_nanos, 1_795_661_376 * 1_000_000_000);
    assert_eq!(profile.duration_nanos, 10 * 1_000_000_000);
}

#[test]
fn folded_with_zero_sample_rate_keeps_counts() {
    let mut p = params("app.cpu", None);
    p.sample_rate = Some("0".into());
    let decoded = convert_legacy(
        &p,
        LegacyBody::Raw(b"a;b 3\na;c 4\n".to_vec()),
        &limits(),
        NOW,
    )
    .unwrap();
    assert_eq!(
        decoded.profiles[0].profile_type.id(),
        "process_cpu:samples:count::"
    );
    assert_eq!(decoded.profiles[0].total(), 7);
}

#[test]
fn lines_format_and_memory_suffix() {
    let p = params("svc.inuse_space{region=eu}", Some("lines"));
    let decoded = convert_legacy(
        &p,
        LegacyBody::Raw(b"a;b\na;b\na;c\n".to_vec()),
        &limits(),
        NOW,
    )
    .unwrap();
    let profile = &decoded.profiles[0];
    assert_eq!(profile.profile_type.id(), "memory:inuse_space:bytes::");
    assert_eq!(profile.total(), 3);
    assert_eq!(profile.labels.get("region"), Some("eu"));
}

#[test]
fn explicit_service_name_moves_app_name_to_a_label() {
    let p = params("myapp.cpu{service_name=real}", None);
    let decoded = convert_legacy(&p, LegacyBody::Raw(b"a 1\n".to_vec()), &limits(), NOW).unwrap();
    assert_eq!(decoded.profiles[0].service_name(), "real");
    assert_eq!(decoded.profiles[0].labels.get("app_name"), Some("myapp"));
}

#[test]
fn multipart_pprof_with_sample_type_config() {
    let p = LegacyParams {
        content_type: Some("multipart/form-data; boundary=x".into()),
        format: None,
        ..params("goapp{env=prod}", None)
    };
    let body = LegacyBody::Multipart {
        profile: Some(agent_file("go-cpu.pb.gz")),
        sample_type_config: Some(br#"{"samples":{"units":"samples","sampled":true},"cpu":{"units":"nanoseconds","display-name":"cpu"}}"#.to_vec()),
        prev_profile: false,
    };
    let decoded = convert_legacy(&p, body, &limits(), NOW).unwrap();
    let types: Vec<String> = decoded
        .profiles
        .iter()
        .map(|p| p.profile_type.id())
        .collect();
    assert!(
        types.contains(&"process_cpu:cpu:nanoseconds:cpu:nanoseconds".to_string()),
        "{types:?}"
    );
    assert!(decoded.profiles.iter().all(|p| p.service_name() == "goapp"));
    // The 2022 capture has its own timestamp; it is kept when plausible.
    assert!(decoded.profiles.iter().all(|p| p.time_nanos > 0));
}

#[test]
fn heap_pprof_is_memory() {
    let p = params("goapp", Some("pprof"));
    let decoded = convert_legacy(
        &p,
        LegacyBody::Raw(agent_file("go-heap.pb.gz")),
        &limits(),
        NOW,
    )
    .unwrap();
    assert!(
        decoded
            .profiles
            .iter()
            .all(|p| p.profile_type.name == "memory")
    );
    assert_eq!(
        decoded
            .profiles
            .iter()
            .map(|p| p.profile_type.sample_type.as_str())
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "alloc_objects",
            "alloc_space",
            "inuse_objects",
            "inuse_space"
        ]
        .into_iter()
        .collect()
    );
}

#[test]
fn errors_name_the_problem() {
    let cases: Vec<(LegacyParams, LegacyBody, &str)> = vec![
        (
            params("app.nope", None),
            LegacyBody::Raw(b"a 1".to_vec()),
            "unknown profile type",
        ),
        (
            params("app{k=v", None),
            LegacyBody::Raw(b"a 1".to_vec()),
            "invalid name parameter",
        ),
        (
            LegacyParams {
                from: Some("yesterday".into()),
                ..params("app", None)
            },
            LegacyBody::Raw(b"a 1".to_vec()),
            "invalid from parameter",
        ),
        (
            params("app", Some("jfr")),
            LegacyBody::Raw(vec![1]),
            "format=jfr is not supported",
        ),
        (
            params("app", None),
            LegacyBody::Raw(b"a;b notanumber".to_vec()),
            "folded",
        ),
        (
            LegacyParams {
                sample_rate: Some("-5".into()),
                ..params("app", None)
            },
            LegacyBody::Raw(b"a 1".to_vec()),
            "invalid sampleRate",
        ),
        (
            params("app", Some("pprof")),
            LegacyBody::Multipart {
                profile: Some(vec![]),
                sample_type_config: None,
                prev_profile: true,
            },
            "prev_profile",
        ),
        (
            params("app", Some("pprof")),
            LegacyBody::Multipart {
                profile: None,
                sample_type_config: None,
                prev_profile: false,
            },
            "no profile part",
        ),
        (
            params("app", Some("pprof")),
            LegacyBody::Multipart {
                profile: Some(agent_file("go-cpu.pb.gz")),
                sample_type_config: Some(b"{not json".to_vec()),
                prev_profile: false,
            },
            "sample_type_config",
        ),
        (
            params("app", Some("pprof")),
            LegacyBody::Raw(vec![0x1f, 0x8b, 1, 2]),
            "gzip",
        ),
        (
            params("app", None),
            LegacyBody::Raw(vec![0xff, 0xfe, b' ', b'1']),
            "UTF-8",
        ),
    ];
    for (p, body, want) in cases {
        let err = convert_legacy(&p, body, &limits(), NOW).unwrap_err();
        assert!(err.to_string().contains(want), "want {want:?} in {err}");
    }
}

#[test]
fn profile_id_label_makes_text_ingest_a_no_op() {
    let p = params("app.cpu{profile_id=abc}", None);
    let decoded = convert_legacy(&p, LegacyBody::Raw(b"a 1\n".to_vec()), &limits(), NOW).unwrap();
    assert!(decoded.profiles.is_empty());
}

#[test]
fn goroutine_display_names_map_to_goroutines() {
    let no_config = HashMap::new();
    let types = ["goroutine".to_string()];
    assert_eq!(metric_name(&types, &no_config), "goroutines");
    // pyroscope-go 1.5.0 sends display-name "goroutine" (singular).
    let singular = HashMap::from([("goroutine".to_string(), "goroutine".to_string())]);
    assert_eq!(metric_name(&types, &singular), "goroutines");
    let plural = HashMap::from([("goroutine".to_string(), "goroutines".to_string())]);
    assert_eq!(metric_name(&types, &plural), "goroutines");
    let other = ["objects_x".to_string()];
    assert_eq!(metric_name(&other, &no_config), "unknown");
}
