//! Hand-built OTLP exports with known stacks and values ─► exact output.

use kiln_model::NormalizedProfile;
use kiln_model::limits::NormalizeLimits;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use kiln_proto::opentelemetry::proto::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use kiln_proto::opentelemetry::proto::profiles::v1development::{
    Function, KeyValueAndUnit, Line, Link, Location, Mapping, Profile, ProfilesDictionary,
    ResourceProfiles, Sample, ScopeProfiles, Stack, ValueType,
};
use kiln_proto::opentelemetry::proto::resource::v1::Resource;

use super::{ProfileName, convert_export, profile_name};
use crate::IngestError;

const NOW: i64 = 1_800_000_000_000_000_000;
const T0: u64 = 1_799_999_990_000_000_000;

/// A dictionary builder: strings are interned, tables get their zero entry.
#[derive(Default)]
struct Dict {
    d: ProfilesDictionary,
}

impl Dict {
    fn new() -> Self {
        let mut d = ProfilesDictionary::default();
        d.string_table.push(String::new());
        d.mapping_table.push(Mapping::default());
        d.location_table.push(Location::default());
        d.function_table.push(Function::default());
        d.link_table.push(Link::default());
        d.attribute_table.push(KeyValueAndUnit::default());
        d.stack_table.push(Stack::default());
        Self { d }
    }

    fn s(&mut self, s: &str) -> i32 {
        if let Some(i) = self.d.string_table.iter().position(|x| x == s) {
            return i as i32;
        }
        self.d.string_table.push(s.into());
        self.d.string_table.len() as i32 - 1
    }

    fn vt(&mut self, t: &str, u: &str) -> ValueType {
        ValueType {
            type_strindex: self.s(t),
            unit_strindex: self.s(u),
        }
    }

    /// A stack of functions given leaf first, all in mapping "app".
    fn stack(&mut self, leaf_first: &[&str]) -> i32 {
        if self.d.mapping_table.len() == 1 {
            let filename_strindex = self.s("app");
            self.d.mapping_table.push(Mapping {
                filename_strindex,
                ..Default::default()
            });
        }
        let mut location_indices = Vec::new();
        for name in leaf_first {
            let name_strindex = self.s(name);
            let filename_strindex = self.s("main.go");
            let function_index = match self
                .d
                .function_table
                .iter()
                .position(|f| f.name_strindex == name_strindex)
            {
                Some(i) => i as i32,
                None => {
                    self.d.function_table.push(Function {
                        name_strindex,
                        filename_strindex,
                        ..Default::default()
                    });
                    self.d.function_table.len() as i32 - 1
                }
            };
            self.d.location_table.push(Location {
                mapping_index: 1,
                address: 0x1000 + self.d.location_table.len() as u64,
                lines: vec![Line {
                    function_index,
                    line: 7,
                    column: 0,
                }],
                attribute_indices: vec![],
            });
            location_indices.push(self.d.location_table.len() as i32 - 1);
        }
        self.d.stack_table.push(Stack { location_indices });
        self.d.stack_table.len() as i32 - 1
    }

    fn attr(&mut self, key: &str, value: &str) -> i32 {
        let key_strindex = self.s(key);
        self.d.attribute_table.push(KeyValueAndUnit {
            key_strindex,
            value: Some(string(value)),
            unit_strindex: 0,
        });
        self.d.attribute_table.len() as i32 - 1
    }
}

fn string(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.into())),
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(string(value)),
    }
}

fn sample(stack_index: i32, values: &[i64]) -> Sample {
    Sample {
        stack_index,
        values: values.to_vec(),
        ..Default::default()
    }
}

fn request(
    dict: Dict,
    resource: Vec<KeyValue>,
    scope: Vec<KeyValue>,
    profiles: Vec<Profile>,
) -> ExportProfilesServiceRequest {
    ExportProfilesServiceRequest {
        resource_profiles: vec![ResourceProfiles {
            resource: Some(Resource {
                attributes: resource,
                dropped_attributes_count: 0,
            }),
            scope_profiles: vec![ScopeProfiles {
                scope: Some(InstrumentationScope {
                    name: "ebpf".into(),
                    attributes: scope,
                    ..Default::default()
                }),
                profiles,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
        dictionary: Some(dict.d),
    }
}

fn convert(request: &ExportProfilesServiceRequest) -> Vec<NormalizedProfile> {
    convert_export(request, &NormalizeLimits::default(), NOW)
        .unwrap()
        .profiles
}

fn err(request: &ExportProfilesServiceRequest) -> String {
    match convert_export(request, &NormalizeLimits::default(), NOW) {
        Err(IngestError::InvalidArgument(m)) => m,
        other => panic!("expected invalid_argument, got {other:?}"),
    }
}

/// `(stack as "root;…;leaf", value)` pairs, sorted.
fn stacks(p: &NormalizedProfile) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = p
        .samples
        .iter()
        .map(|s| {
            let names: Vec<&str> = s
                .stack
                .iter()
                .map(|&i| p.frames[i as usize].function.as_str())
                .collect();
            (names.join(";"), s.value)
        })
        .collect();
    out.sort();
    out
}

fn labels(p: &NormalizedProfile) -> Vec<(String, String)> {
    p.labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn cpu_profile(dict: &mut Dict, samples: Vec<Sample>) -> Profile {
    Profile {
        sample_type: Some(dict.vt("samples", "count")),
        samples,
        time_unix_nano: T0,
        duration_nano: 5_000_000_000,
        period_type: Some(dict.vt("cpu", "nanoseconds")),
        period: 10_000_000,
        ..Default::default()
    }
}

#[test]
fn cpu_samples_become_process_cpu_nanoseconds() {
    let mut dict = Dict::new();
    let foo_stack = dict.stack(&["foo", "main"]);
    let bar_stack = dict.stack(&["bar", "main"]);
    let profile = cpu_profile(
        &mut dict,
        vec![
            sample(foo_stack, &[2]),
            sample(bar_stack, &[1, 1]),
            sample(foo_stack, &[3]),
        ],
    );
    let req = request(
        dict,
        vec![kv("service.name", "checkout"), kv("host.name", "h1")],
        vec![kv("scope.attr", "s")],
        vec![profile],
    );
    let out = convert(&req);
    assert_eq!(out.len(), 1);
    let p = &out[0];
    assert_eq!(
        p.profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(
        stacks(p),
        vec![
            ("main;bar".to_string(), 20_000_000),
            ("main;foo".to_string(), 50_000_000),
        ]
    );
    assert_eq!(p.time_nanos, T0 as i64);
    assert_eq!(p.duration_nanos, 5_000_000_000);
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.frames[p.samples[0].stack[0] as usize].binary, "app");
    assert_eq!(
        labels(p),
        [
            ("__delta__", "false"),
            ("__name__", "process_cpu"),
            ("__otel__", "true"),
            ("__period_type__", "cpu"),
            ("__period_unit__", "nanoseconds"),
            (
                "__profile_type__",
                "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
            ),
            ("__service_name__", "checkout"),
            ("__type__", "cpu"),
            ("__unit__", "nanoseconds"),
            ("host_name", "h1"),
            ("scope_attr", "s"),
            ("service_name", "checkout"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[test]
fn profile_names_follow_pyroscope() {
    let name = |t: &str| profile_name(t);
    assert_eq!(
        name("samples:count:cpu:nanoseconds"),
        ProfileName {
            name: "process_cpu".into(),
            samples_to_nanos: true
        }
    );
    assert_eq!(name("off_cpu:nanoseconds::").name, "off_cpu");
    assert_eq!(name("events:count:wall:nanoseconds").name, "wall");
    assert_eq!(name("alloc_space:bytes::").name, "process_cpu");
    assert!(!name("events:count:wall:nanoseconds").samples_to_nanos);
}

#[test]
fn off_cpu_sums_event_values_and_keeps_its_type() {
    let mut dict = Dict::new();
    let s = dict.stack(&["wait", "main"]);
    let profile = Profile {
        sample_type: Some(dict.vt("off_cpu", "nanoseconds")),
        samples: vec![
            Sample {
                stack_index: s,
                values: vec![100, 250],
                timestamps_unix_nano: vec![T0, T0 + 1],
                ..Default::default()
            },
            // Timestamps only: one per event.
            Sample {
                stack_index: s,
                timestamps_unix_nano: vec![T0, T0 + 1, T0 + 2],
                ..Default::default()
            },
        ],
        time_unix_nano: T0,
        ..Default::default()
    };
    let out = convert(&request(
        dict,
        vec![kv("service.name", "svc")],
        vec![],
        vec![profile],
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].profile_type.id(), "off_cpu:off_cpu:nanoseconds::");
    assert_eq!(stacks(&out[0]), vec![("main;wait".to_string(), 353)]);
    assert_eq!(out[0].duration_nanos, 10_000_000_000, "Pyroscope's default");
}

#[test]
fn service_name_fallbacks() {
    for (resource, want) in [
        (vec![kv("service.name", "api")], "api"),
        (
            vec![kv("process.executable.name", "nginx")],
            "unknown_service:nginx",
        ),
        (vec![kv("service.name", "")], "unknown_service"),
        (vec![], "unknown_service"),
    ] {
        let mut dict = Dict::new();
        let s = dict.stack(&["main"]);
        let profile = cpu_profile(&mut dict, vec![sample(s, &[1])]);
        let out = convert(&request(dict, resource, vec![], vec![profile]));
        assert_eq!(out[0].service_name(), want);
        assert_eq!(out[0].labels.get("__service_name__"), Some(want));
    }
}

#[test]
fn samples_with_their_own_service_become_separate_profiles() {
    let mut dict = Dict::new();
    let s = dict.stack(&["work", "main"]);
    let a = dict.attr("service.name", "svc-a");
    let thread = dict.attr("thread.name", "worker-1");
    let profile = cpu_profile(
        &mut dict,
        vec![
            Sample {
                stack_index: s,
                values: vec![1],
                attribute_indices: vec![a, thread],
                ..Default::default()
            },
            sample(s, &[4]),
        ],
    );
    let out = convert(&request(
        dict,
        vec![kv("service.name", "host-svc")],
        vec![],
        vec![profile],
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].service_name(), "svc-a");
    assert_eq!(out[0].labels.get("thread_name"), Some("worker-1"));
    assert_eq!(stacks(&out[0]), vec![("main;work".to_string(), 10_000_000)]);
    assert_eq!(out[1].service_name(), "host-svc");
    assert_eq!(out[1].labels.get("thread_name"), None);
    assert_eq!(stacks(&out[1]), vec![("main;work".to_string(), 40_000_000)]);
    assert_ne!(out[0].profile_id, out[1].profile_id);
}

#[test]
fn links_give_span_ids_and_time_zero_is_now() {
    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    dict.d.link_table.push(Link {
        trace_id: vec![1; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0x12, 0x34],
    });
    let profile = Profile {
        time_unix_nano: 0,
        ..cpu_profile(
            &mut dict,
            vec![Sample {
                stack_index: s,
                values: vec![1],
                link_index: 1,
                ..Default::default()
            }],
        )
    };
    let out = convert(&request(dict, vec![], vec![], vec![profile]));
    assert_eq!(out[0].samples[0].span_id, 0x1234);
    assert_eq!(out[0].time_nanos, NOW);
    assert_eq!(out[0].labels.get("trace_id"), None);
}

#[test]
fn resource_attributes_win_over_scope_and_names_are_sanitised() {
    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = cpu_profile(&mut dict, vec![sample(s, &[1])]);
    let out = convert(&request(
        dict,
        vec![kv("k8s.pod.name", "pod-1"), kv("env", "prod")],
        vec![kv("k8s_pod_name", "scope-pod"), kv("env", "dev")],
        vec![profile],
    ));
    assert_eq!(out[0].labels.get("k8s_pod_name"), Some("pod-1"));
    assert_eq!(out[0].labels.get("env"), Some("prod"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut no_dict = request(Dict::new(), vec![], vec![], vec![]);
    no_dict.dictionary = None;
    assert_eq!(err(&no_dict), "missing profile metadata dictionary");

    let mut empty = request(Dict::new(), vec![], vec![], vec![]);
    empty.resource_profiles.clear();
    assert_eq!(err(&empty), "missing resource profiles");

    let mut dict = Dict::new();
    dict.d.string_table[0] = "x".into();
    assert!(err(&request(dict, vec![], vec![], vec![])).contains("string_table[0]"));

    let mut dict = Dict::new();
    let profile = cpu_profile(&mut dict, vec![sample(99, &[1])]);
    assert_eq!(
        err(&request(dict, vec![], vec![], vec![profile])),
        "invalid otlp profile: sample 0: stack index 99 out of range (1 entries)"
    );

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    dict.d.location_table[1].lines[0].function_index = -3;
    let profile = cpu_profile(&mut dict, vec![sample(s, &[1])]);
    assert!(
        err(&request(dict, vec![], vec![], vec![profile]))
            .contains("function index -3 out of range")
    );

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = Profile {
        sample_type: None,
        ..cpu_profile(&mut dict, vec![sample(s, &[1])])
    };
    assert!(err(&request(dict, vec![], vec![], vec![profile])).contains("sample type is missing"));

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = cpu_profile(&mut dict, vec![sample(s, &[])]);
    assert!(
        err(&request(dict, vec![], vec![], vec![profile]))
            .contains("neither values nor timestamps")
    );

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = cpu_profile(&mut dict, vec![sample(s, &[1])]);
    assert!(
        err(&request(
            dict,
            vec![kv("bad-name", "v")],
            vec![],
            vec![profile]
        ))
        .contains("invalid label name \"bad-name\"")
    );

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = Profile {
        time_unix_nano: u64::MAX,
        ..cpu_profile(&mut dict, vec![sample(s, &[1])])
    };
    assert!(err(&request(dict, vec![], vec![], vec![profile])).contains("time_unix_nano"));

    let mut dict = Dict::new();
    let s = dict.stack(&["main"]);
    let profile = cpu_profile(&mut dict, vec![sample(s, &[i64::MAX])]);
    assert!(err(&request(dict, vec![], vec![], vec![profile])).contains("overflows"));
}

#[test]
fn empty_profiles_yield_nothing() {
    let mut dict = Dict::new();
    let profile = cpu_profile(&mut dict, vec![]);
    let decoded = convert_export(
        &request(dict, vec![], vec![], vec![profile]),
        &NormalizeLimits::default(),
        NOW,
    )
    .unwrap();
    assert!(decoded.profiles.is_empty());
    assert_eq!(decoded.decompressed_bytes, 0);
}
