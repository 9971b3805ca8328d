//! OTLP profiles on the one port: OTLP/HTTP (protobuf, JSON, gzip, 415)
//! and `ProfilesService/Export` over gRPC (tonic's generated client).

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::{
    ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use kiln_proto::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use kiln_proto::opentelemetry::proto::profiles::v1development::{
    ProfilesDictionary, ResourceProfiles,
};
use kiln_proto::opentelemetry::proto::resource::v1::Resource;
use kiln_server::{ApiError, OTLP_HTTP_PATH};
use prost::Message;

use crate::harness::*;

fn export() -> ExportProfilesServiceRequest {
    ExportProfilesServiceRequest {
        resource_profiles: vec![ResourceProfiles {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("svc".into())),
                    }),
                }],
                dropped_attributes_count: 0,
            }),
            ..Default::default()
        }],
        dictionary: Some(ProfilesDictionary {
            string_table: vec![String::new(), "cpu".into()],
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn otlp_http_protobuf_json_and_gzip() {
    let server = TestServer::start().await;
    let url = server.url(OTLP_HTTP_PATH);
    for content_type in ["application/x-protobuf", "application/protobuf"] {
        let reply = post(
            &url,
            &[("content-type", content_type)],
            full(export().encode_to_vec()),
        )
        .await;
        assert_eq!(reply.status, 200, "{content_type}: {:?}", reply.body);
        assert_eq!(reply.header("content-type"), "application/x-protobuf");
        ExportProfilesServiceResponse::decode(reply.body.clone()).unwrap();
    }
    let json = serde_json::to_vec(&export()).unwrap();
    let reply = post(
        &url,
        &[("content-type", "application/json")],
        full(json.clone()),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        full(gzip(&json)),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let exports = server.sink.exports();
    assert_eq!(exports.len(), 4);
    assert!(
        exports
            .iter()
            .all(|(t, r)| t == "anonymous" && *r == export())
    );
}

#[tokio::test]
async fn otlp_http_rejects_bad_input() {
    let server = TestServer::start().await;
    let url = server.url(OTLP_HTTP_PATH);
    let reply = post(&url, &[("content-type", "text/plain")], full("x")).await;
    assert_eq!(reply.status, 415);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("application/x-protobuf")
    );

    let reply = post(
        &url,
        &[("content-type", "application/x-protobuf")],
        full(vec![0x0a, 0xff]),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid protobuf export request")
    );

    let reply = post(
        &url,
        &[("content-type", "application/json")],
        full("{\"resourceProfiles\":5}"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid json export request")
    );

    server.sink.fail_with(ApiError::invalid_argument(
        "missing profile metadata dictionary",
    ));
    let reply = post(
        &url,
        &[("content-type", "application/x-protobuf")],
        full(export().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        "missing profile metadata dictionary"
    );

    let mt = TestServer::multitenant().await;
    let reply = post(
        &mt.url(OTLP_HTTP_PATH),
        &[("content-type", "application/x-protobuf")],
        full(export().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 401);
    // Still serving.
    assert_eq!(get(&server.url("/ready")).await.status, 200);
}

#[tokio::test]
async fn otlp_grpc_export_over_h2c() {
    let server = TestServer::multitenant().await;
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let origin = server.url("").parse().unwrap();
    let mut client = ProfilesServiceClient::with_origin(builder.build_http(), origin);
    let mut request = tonic::Request::new(export());
    request
        .metadata_mut()
        .insert("x-scope-orgid", "otel-tenant".parse().unwrap());
    client.export(request).await.expect("export succeeds");
    assert_eq!(
        server.sink.exports(),
        vec![("otel-tenant".to_string(), export())]
    );

    server
        .sink
        .fail_with(ApiError::invalid_argument("bad stack"));
    let mut request = tonic::Request::new(export());
    request
        .metadata_mut()
        .insert("x-scope-orgid", "otel-tenant".parse().unwrap());
    let status = client.export(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "bad stack");
}
