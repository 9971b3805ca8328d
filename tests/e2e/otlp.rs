//! OTLP profiles against the real server (spec §10): exports sent as
//! OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC are stored as the
//! series and totals Pyroscope would store, and bad exports get clear errors.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::{
    ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use kiln_proto::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use kiln_proto::opentelemetry::proto::profiles::v1development::{
    Function, Line, Location, Mapping, Profile, ProfilesDictionary, ResourceProfiles, Sample,
    ScopeProfiles, Stack, ValueType,
};
use kiln_proto::opentelemetry::proto::resource::v1::Resource;
use prost::Message;

use crate::server::*;

const OTLP_HTTP: &str = "/v1development/profiles";
const PERIOD: i64 = 10_000_000;

/// An export of one profile of `service` with two stacks, `main;foo` and
/// `main;bar`, whose sample values are `foo_values` and `bar_values`.
fn export(
    service: &str,
    sample_type: (&str, &str),
    period: bool,
    foo_values: &[i64],
    bar_values: &[i64],
) -> ExportProfilesServiceRequest {
    let mut strings = vec![String::new()];
    let mut s = |v: &str| -> i32 {
        strings.push(v.to_string());
        strings.len() as i32 - 1
    };
    let (t, u) = (s(sample_type.0), s(sample_type.1));
    let (cpu, ns) = (s("cpu"), s("nanoseconds"));
    let binary = s("/usr/bin/app");
    let file = s("main.go");
    let names = [s("main"), s("foo"), s("bar")];
    let function = |name_strindex| Function {
        name_strindex,
        filename_strindex: file,
        ..Default::default()
    };
    let location = |function_index| Location {
        mapping_index: 1,
        address: 0x400000 + function_index as u64,
        lines: vec![Line {
            function_index,
            line: 10,
            column: 0,
        }],
        attribute_indices: vec![],
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dictionary = ProfilesDictionary {
        mapping_table: vec![
            Mapping::default(),
            Mapping {
                filename_strindex: binary,
                ..Default::default()
            },
        ],
        location_table: vec![Location::default(), location(1), location(2), location(3)],
        function_table: vec![
            Function::default(),
            function(names[0]),
            function(names[1]),
            function(names[2]),
        ],
        string_table: strings,
        // Leaf first: foo (location 2) called by main (location 1).
        stack_table: vec![
            Stack::default(),
            Stack {
                location_indices: vec![2, 1],
            },
            Stack {
                location_indices: vec![3, 1],
            },
        ],
        ..Default::default()
    };
    let sample = |stack_index, values: &[i64]| Sample {
        stack_index,
        values: values.to_vec(),
        ..Default::default()
    };
    let profile = Profile {
        sample_type: Some(ValueType {
            type_strindex: t,
            unit_strindex: u,
        }),
        samples: vec![sample(1, foo_values), sample(2, bar_values)],
        time_unix_nano: now,
        duration_nano: 15_000_000_000,
        period_type: period.then_some(ValueType {
            type_strindex: cpu,
            unit_strindex: ns,
        }),
        period: if period { PERIOD } else { 0 },
        ..Default::default()
    };
    let attr = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    };
    ExportProfilesServiceRequest {
        resource_profiles: vec![ResourceProfiles {
            resource: Some(Resource {
                attributes: vec![attr("service.name", service), attr("host.name", "node-1")],
                dropped_attributes_count: 0,
            }),
            scope_profiles: vec![ScopeProfiles {
                profiles: vec![profile],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
        dictionary: Some(dictionary),
    }
}

#[tokio::test]
async fn otlp_exports_over_http_and_grpc_are_stored() {
    let server = KilnServer::start().await;

    // OTLP/HTTP protobuf: CPU sample counts become nanoseconds.
    let cpu = export("otel-cpu", ("samples", "count"), true, &[3], &[1, 1]);
    let reply = post(
        &server.url(OTLP_HTTP),
        &[("content-type", "application/x-protobuf")],
        full(cpu.encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/x-protobuf");
    ExportProfilesServiceResponse::decode(reply.body.clone()).expect("protobuf response");

    // OTLP/HTTP JSON (protojson), gzipped: off-CPU time summed per event.
    let off_cpu = export(
        "otel-json",
        ("off_cpu", "nanoseconds"),
        false,
        &[100, 200],
        &[50],
    );
    let json = serde_json::to_vec(&off_cpu).unwrap();
    let reply = post(
        &server.url(OTLP_HTTP),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        full(crate::fixtures::gzip(&json)),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // OTLP/gRPC over h2c on the same port (tonic's generated client).
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let mut client =
        ProfilesServiceClient::with_origin(builder.build_http(), server.url("").parse().unwrap());
    let wall = export("otel-grpc", ("events", "count"), false, &[4], &[3]);
    client.export(wall).await.expect("gRPC export succeeds");

    let stored = server.stored().await;
    let cpu_series: Vec<_> = stored.of("anonymous", "otel-cpu").collect();
    assert_eq!(cpu_series.len(), 1, "{:?}", stored.series);
    let s = cpu_series[0];
    assert_eq!(
        s.profile_type(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(s.label("__name__"), "process_cpu");
    assert_eq!(s.label("__otel__"), "true");
    assert_eq!(s.label("__delta__"), "false");
    assert_eq!(s.label("host_name"), "node-1");
    assert_eq!(s.total, 5 * PERIOD);
    assert_eq!(s.profiles.len(), 1);

    assert_eq!(
        stored
            .totals("anonymous", "otel-json")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("off_cpu:off_cpu:nanoseconds::".to_string(), 350)]
    );
    assert_eq!(
        stored
            .totals("anonymous", "otel-grpc")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("process_cpu:events:count::".to_string(), 7)],
        "no period type: Pyroscope's process_cpu guess"
    );
}

#[tokio::test]
async fn otlp_bad_exports_get_clear_errors() {
    let server = KilnServer::start().await;
    let url = server.url(OTLP_HTTP);

    let reply = post(&url, &[("content-type", "text/plain")], full("hello")).await;
    assert_eq!(reply.status, 415, "{reply:?}");

    let mut no_dictionary = export("svc", ("samples", "count"), true, &[1], &[1]);
    no_dictionary.dictionary = None;
    let reply = post(
        &url,
        &[("content-type", "application/protobuf")],
        full(no_dictionary.encode_to_vec()),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["missing profile metadata dictionary"],
    );

    let mut bad_stack = export("svc", ("samples", "count"), true, &[1], &[1]);
    bad_stack.resource_profiles[0].scope_profiles[0].profiles[0].samples[0].stack_index = 42;
    let reply = post(
        &url,
        &[("content-type", "application/x-protobuf")],
        full(bad_stack.encode_to_vec()),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["stack index 42 out of range"],
    );

    let reply = post(
        &url,
        &[("content-type", "application/json")],
        full("{\"resourceProfiles\": 7}"),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["invalid json export request"],
    );

    // Nothing was stored, and the server still serves.
    assert!(server.stored().await.series.is_empty());
    assert_eq!(get(&server.url("/ready")).await.status, 200);
}
