//! The series Pyroscope stores for each captured payload, derived here from
//! the payload bytes and the rules of spec §1 and §5 (written out again,
//! not borrowed from the server, so a server bug cannot hide itself).

use std::collections::BTreeMap;

use kiln_proto::push::v1::PushRequest;
use prost::Message;

use super::Logged;
use crate::fixtures::{folded_count, gunzip_if_gzip, pprof_period, pprof_totals};
use crate::server::Stored;

/// What one agent's pushes must have produced for one service.
#[derive(Debug, Clone)]
pub struct Expected {
    pub service: String,
    /// `__profile_type__` → sum of sample values (zero totals are not stored).
    pub totals: BTreeMap<String, i64>,
    /// Labels every series of the service carries, names as stored.
    pub labels: BTreeMap<String, String>,
}

impl Expected {
    /// The same pushes sent `n` times.
    pub fn times(&self, n: i64) -> Expected {
        let mut e = self.clone();
        e.totals.values_mut().for_each(|v| *v *= n);
        e
    }

    fn add(&mut self, profile_type: String, total: i64) {
        if total != 0 {
            *self.totals.entry(profile_type).or_default() += total;
        }
    }
}

/// Compares what `tenant` stored for `expected.service` with `expected`.
#[track_caller]
pub fn check(stored: &Stored, tenant: &str, expected: &Expected, agent: &str) {
    let series: Vec<_> = stored.of(tenant, &expected.service).collect();
    assert!(
        !series.is_empty(),
        "{agent}: tenant {tenant} has no series of service {:?}: {stored:#?}",
        expected.service
    );
    assert_eq!(
        stored.totals(tenant, &expected.service),
        expected.totals,
        "{agent}: totals by profile type"
    );
    for s in series {
        for (name, value) in &expected.labels {
            assert_eq!(
                s.label(name),
                value,
                "{agent}: label {name} of {:?}",
                s.labels
            );
        }
        // The derived labels agree with the profile-type ID.
        let parts: Vec<&str> = s.profile_type().split(':').collect();
        assert_eq!(parts.len(), 5, "{agent}: {:?}", s.profile_type());
        for (label, part) in [
            "__name__",
            "__type__",
            "__unit__",
            "__period_type__",
            "__period_unit__",
        ]
        .iter()
        .zip(&parts)
        {
            assert_eq!(s.label(label), *part, "{agent}: {label} of {:?}", s.labels);
        }
        assert_eq!(s.label("__service_name__"), expected.service, "{agent}");
        assert!(
            s.labels.keys().all(|k| !k.contains('.')),
            "{agent}: dotted label names must be sanitised: {:?}",
            s.labels
        );
        assert!(!s.profiles.is_empty(), "{agent}: no profile rows");
    }
}

/// Dots in label names become underscores (Pyroscope v1 default).
fn sanitised(name: &str) -> String {
    name.replace('.', "_")
}

/// Pyroscope's default relabel rules for one sample type.
fn relabel(name: &str, sample_type: &str) -> String {
    let name = name.strip_prefix("godeltaprof_").unwrap_or(name);
    if name == "wall" && sample_type == "cpu" {
        "process_cpu".into()
    } else {
        name.into()
    }
}

/// Adds one pprof's totals under `__name__` = `name` (after relabelling).
fn add_pprof(expected: &mut Expected, name: &str, raw: &[u8]) {
    let period = pprof_period(raw);
    for (type_unit, total) in pprof_totals(raw) {
        let sample_type = type_unit.split(':').next().unwrap();
        expected.add(
            format!("{}:{type_unit}:{period}", relabel(name, sample_type)),
            total,
        );
    }
}

/// A Connect `PushRequest` (gzipped body): one expectation per series.
pub fn python(body: &[u8]) -> Expected {
    let push = PushRequest::decode(gunzip_if_gzip(body).as_slice()).expect("a PushRequest");
    assert_eq!(push.series.len(), 1, "the capture holds one series");
    let series = &push.series[0];
    let label = |n: &str| {
        series
            .labels
            .iter()
            .find(|l| l.name == n)
            .map(|l| l.value.clone())
            .unwrap_or_default()
    };
    let mut expected = Expected {
        service: label("service_name"),
        totals: BTreeMap::new(),
        labels: series
            .labels
            .iter()
            .filter(|l| !l.name.starts_with("__") && !l.value.is_empty())
            .map(|l| (sanitised(&l.name), l.value.clone()))
            .collect(),
    };
    assert!(
        expected.labels.contains_key("otel_scope_name"),
        "the capture carries otel.scope.name: {:?}",
        series.labels
    );
    for sample in &series.samples {
        add_pprof(&mut expected, &label("__name__"), &sample.raw_profile);
    }
    expected
}

/// A query parameter of a raw query string, percent-decoded.
fn query_param(raw_query: &str, key: &str) -> String {
    let value = raw_query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("query has no {key}: {raw_query}"));
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// `app{k=v,…}` → (app, sanitised labels).
fn legacy_name(name: &str) -> (String, BTreeMap<String, String>) {
    let (app, rest) = name.split_once('{').unwrap_or((name, "}"));
    let labels = rest
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (sanitised(k.trim()), v.trim().to_string()))
        .collect();
    (app.to_string(), labels)
}

/// Spec §5's `__name__` heuristic for legacy pprof uploads, over the
/// default display names (`samples` → `cpu`).
fn legacy_pprof_name(raw: &[u8]) -> &'static str {
    let types: Vec<String> = pprof_totals(raw)
        .keys()
        .map(|k| k.split(':').next().unwrap().to_string())
        .map(|t| if t == "samples" { "cpu".into() } else { t })
        .collect();
    if types.iter().any(|t| t == "wall") {
        "wall"
    } else if types.iter().any(|t| t.contains("cpu")) {
        "process_cpu"
    } else if types
        .iter()
        .any(|t| t.contains("alloc_") || t.contains("inuse_"))
    {
        "memory"
    } else {
        panic!("no rule for sample types {types:?}")
    }
}

/// A legacy `/ingest?format=pprof` upload: the app name is the service,
/// verbatim; the profile name comes from the sample types; `pyroscope_spy`
/// and `__delta__="false"` are added.
fn legacy_pprof(name: &str, spy: &str, body: &[u8]) -> Expected {
    let (app, mut labels) = legacy_name(name);
    labels.insert("pyroscope_spy".into(), spy.into());
    labels.insert("__delta__".into(), "false".into());
    labels.insert("service_name".into(), app.clone());
    let mut expected = Expected {
        service: app,
        totals: BTreeMap::new(),
        labels,
    };
    add_pprof(&mut expected, legacy_pprof_name(body), body);
    expected
}

pub fn nodejs(logged: &Logged, body: &[u8]) -> Expected {
    let q = |k| query_param(&logged.raw_query, k);
    let expected = legacy_pprof(&q("name"), &q("spyName"), body);
    assert_eq!(expected.labels["env"], "test");
    assert_eq!(
        expected.labels["otel_scope_name"],
        "com.grafana.pyroscope/nodejs"
    );
    expected
}

/// Folded text: the name's last `.segment` is the type (`cpu`), counts are
/// scaled by 1e9/sampleRate into nanoseconds.
pub fn rust_folded(logged: &Logged, body: &[u8]) -> Expected {
    let q = |k| query_param(&logged.raw_query, k);
    let (app, mut labels) = legacy_name(&q("name"));
    let (service, suffix) = app.rsplit_once('.').expect("a type suffix");
    assert_eq!(suffix, "cpu");
    labels.insert("pyroscope_spy".into(), q("spyName"));
    labels.insert("__delta__".into(), "false".into());
    labels.insert("service_name".into(), service.into());
    let rate: i64 = q("sampleRate").parse().unwrap();
    let mut expected = Expected {
        service: service.into(),
        totals: BTreeMap::new(),
        labels,
    };
    expected.add(
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
        folded_count(body) * (1_000_000_000 / rate),
    );
    expected
}

/// Pushed like Alloy does, with `service.version` as a dotted label.
pub fn go_cpu(body: &[u8]) -> Expected {
    let mut expected = Expected {
        service: "go-app".into(),
        totals: BTreeMap::new(),
        labels: [("service_version".to_string(), "1.2.3".to_string())].into(),
    };
    add_pprof(&mut expected, "process_cpu", body);
    expected
}

/// Pushed like pyroscope-go does, as `go-heap-app{env=test}`.
pub fn go_heap(body: &[u8]) -> Expected {
    let expected = legacy_pprof("go-heap-app{env=test}", "gospy", body);
    assert!(
        expected.totals.keys().all(|k| k.starts_with("memory:")),
        "{expected:?}"
    );
    expected
}
