//! Profile and label validation (spec §1): each bad push is sent over
//! Connect (HTTP 400 `invalid_argument`) and over gRPC with tonic's client
//! (status `InvalidArgument`), and both must name the problem.

use kiln_proto::push::v1::{PushRequest, RawProfileSeries};
use prost::Message;

use super::{Case, still_serving, stored_services};
use crate::fixtures::{PprofBuilder, cpu_push, gzip, label_pairs, push_request};
use crate::server::*;

/// One bad push and what its error message must mention.
pub struct PushCase {
    pub name: &'static str,
    pub push: PushRequest,
    pub parts: Vec<&'static str>,
}

fn case(name: &'static str, push: PushRequest, parts: &[&'static str]) -> PushCase {
    PushCase {
        name,
        push,
        parts: parts.to_vec(),
    }
}

/// `__name__` + `service_name` + `extra`, around a good CPU pprof.
fn with_labels(extra: &[(&str, &str)]) -> PushRequest {
    cpu_push("pprof-case", extra, 1_000)
}

/// The default CPU labels around `raw_profile`.
fn with_profile(raw_profile: Vec<u8>) -> PushRequest {
    push_request(
        &[("__name__", "process_cpu"), ("service_name", "pprof-case")],
        raw_profile,
    )
}

fn good_pprof() -> PprofBuilder {
    PprofBuilder::cpu().sample(&["main", "work"], &[10])
}

/// A good profile changed by `edit`.
fn broken(edit: impl FnOnce(&mut kiln_proto::google::v1::Profile)) -> PushRequest {
    let mut builder = good_pprof();
    edit(builder.profile_mut());
    with_profile(builder.encode())
}

pub fn push_cases() -> Vec<PushCase> {
    let pprof = good_pprof().encode();
    let many_labels: Vec<(String, String)> = (0..31)
        .map(|i| (format!("l{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many_labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let long_name = "n".repeat(1025);
    let long_value = "v".repeat(2049);
    let mut many_samples = PprofBuilder::cpu();
    for i in 0..16_001 {
        many_samples = many_samples.sample(&["main"], &[i + 1]);
    }
    vec![
        case(
            "truncated pprof",
            with_profile(pprof[..pprof.len() - 3].to_vec()),
            &["invalid pprof protobuf"],
        ),
        case(
            "raw_profile with gzip magic but garbage",
            with_profile(b"\x1f\x8b\x08\x00garbage".to_vec()),
            &["invalid gzip data"],
        ),
        case(
            "gzip bomb in raw_profile (5 MiB inflated)",
            with_profile(gzip(&vec![0u8; 5 << 20])),
            &["exceeds the limit of 4194304 bytes"],
        ),
        case(
            "too many labels",
            with_labels(&many),
            &["label names", "limit of 30"],
        ),
        case(
            "label name too long",
            with_labels(&[(&long_name, "v")]),
            &["1025 bytes", "limit of 1024"],
        ),
        case(
            "label value too long",
            with_labels(&[("big", &long_value)]),
            &["big", "2049 bytes", "limit of 2048"],
        ),
        case(
            "invalid label name",
            with_labels(&[("bad-name", "v")]),
            &["invalid label name", "bad-name"],
        ),
        case(
            "label name starting with a digit",
            with_labels(&[("1st", "v")]),
            &["invalid label name", "1st"],
        ),
        case(
            "duplicate label names",
            with_labels(&[("env", "a"), ("env", "b")]),
            &["duplicate label name", "env"],
        ),
        case(
            "names equal after sanitisation",
            with_labels(&[("a.b", "1"), ("a_b", "2")]),
            &["duplicate label name", "a_b"],
        ),
        case(
            "empty __name__",
            push_request(&[("__name__", ""), ("service_name", "x")], pprof.clone()),
            &["invalid metric name", "__name__"],
        ),
        case(
            "missing __name__",
            push_request(&[("service_name", "x")], pprof.clone()),
            &["invalid metric name", "__name__"],
        ),
        case(
            "no series",
            PushRequest::default(),
            &["no profiles received"],
        ),
        case(
            "series without samples",
            PushRequest {
                series: vec![RawProfileSeries {
                    labels: label_pairs(&[("service_name", "x")]),
                    samples: vec![],
                    annotations: vec![],
                }],
            },
            &["no profiles received"],
        ),
        case(
            "no sample types",
            broken(|p| p.sample_type.clear()),
            &["empty profile"],
        ),
        case(
            "sample value count mismatch",
            broken(|p| p.sample[0].value = vec![1, 2]),
            &["2 values", "1 sample types"],
        ),
        case(
            "zero location id",
            broken(|p| p.sample[0].location_id = vec![0]),
            &["location id 0"],
        ),
        case(
            "unknown location id",
            broken(|p| p.sample[0].location_id = vec![42]),
            &["unknown location id 42"],
        ),
        case(
            "unknown function id",
            broken(|p| p.location[0].line[0].function_id = 99),
            &["unknown function id 99"],
        ),
        case(
            "string index out of range",
            broken(|p| p.function[0].name = 1000),
            &["string table index 1000"],
        ),
        case(
            "too many samples",
            with_profile(many_samples.encode()),
            &["16001 samples", "limit of 16000"],
        ),
        case(
            "too many sample labels",
            broken(|p| {
                let key = p.string_table.len() as i64;
                p.string_table.push("k".into());
                p.sample[0].label = (0..101)
                    .map(|n| kiln_proto::google::v1::Label {
                        key,
                        num: n,
                        ..Default::default()
                    })
                    .collect();
            }),
            &["101 labels", "limit of 100"],
        ),
    ]
}

/// The same pushes as [`Case`]s over Connect.
pub fn cases() -> Vec<Case> {
    push_cases()
        .into_iter()
        .map(|c| {
            Case::post(
                c.name,
                PUSH_PATH,
                &[("content-type", "application/proto")],
                c.push.encode_to_vec(),
            )
            .expect(400, "invalid_argument", &c.parts)
        })
        .collect()
}

#[tokio::test]
async fn invalid_profiles_and_labels_over_connect_and_grpc() {
    let server = KilnServer::start().await;
    let mut grpc = grpc_client(&server);
    for (push_case, connect_case) in push_cases().into_iter().zip(cases()) {
        connect_case.run(&server).await;
        let status = grpc
            .push(grpc_request(push_case.push, None))
            .await
            .expect_err(push_case.name);
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "case {:?}: {status:?}",
            push_case.name
        );
        for part in &push_case.parts {
            assert!(
                status.message().contains(part),
                "case {:?}: gRPC message {:?} does not mention {part:?}",
                push_case.name,
                status.message()
            );
        }
    }

    // Not an error: an empty service_name falls back to unknown_service.
    let reply = push_proto(
        &server,
        &push_request(
            &[("__name__", "process_cpu"), ("service_name", "")],
            good_pprof().encode(),
        ),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    still_serving(&server, None).await;
    let stored = server.stored().await;
    assert_eq!(
        stored_services(&stored, "anonymous"),
        ["still-serving", "unknown_service"],
        "only the good pushes are stored"
    );
    let fallback: Vec<_> = stored.of("anonymous", "unknown_service").collect();
    assert_eq!(fallback[0].total, 10);
    assert_eq!(fallback[0].label("__service_name__"), "unknown_service");
}
