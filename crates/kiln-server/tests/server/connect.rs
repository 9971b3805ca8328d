//! Connect unary: proto, JSON, gzip, chunked, HTTP/1.1 and h2c.

use kiln_proto::push::v1::{PushRequest, PushResponse};
use kiln_server::PUSH_PATH;
use prost::Message;

use crate::harness::*;

#[tokio::test]
async fn proto_push_reaches_the_sink() {
    let server = TestServer::start().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("connect-protocol-version", "1"),
            ("authorization", "Basic dXNlcjpwYXNz"),
            // Ignored: multi-tenancy is off.
            ("x-scope-orgid", "someone"),
        ],
        full(sample_push().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/proto");
    assert_eq!(PushResponse::decode(reply.body).unwrap(), PushResponse {});
    assert_eq!(
        server.sink.pushes(),
        vec![("anonymous".to_string(), sample_push())]
    );
}

#[tokio::test]
async fn json_push_uses_protojson_names() {
    let server = TestServer::start().await;
    // lowerCamelCase `rawProfile`, base64 bytes, `ID`; plus a proto-style
    // name (`raw_profile`) which protojson also accepts, and a charset.
    let body = r#"{"series":[
        {"labels":[{"name":"service_name","value":"js"}],
         "samples":[{"rawProfile":"AQID","ID":"x-1"}]},
        {"labels":[],"samples":[{"raw_profile":"BAU="}],"unknownField":1}
    ]}"#;
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/json; charset=utf-8")],
        full(body),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.json(), serde_json::json!({}));
    let pushes = server.sink.pushes();
    let series = &pushes[0].1.series;
    assert_eq!(series[0].labels[0].value, "js");
    assert_eq!(series[0].samples[0].raw_profile, vec![1, 2, 3]);
    assert_eq!(series[0].samples[0].id, "x-1");
    assert_eq!(series[1].samples[0].raw_profile, vec![4, 5]);
}

#[tokio::test]
async fn gzip_request_body() {
    let server = TestServer::start().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        full(gzip(&sample_push().encode_to_vec())),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(server.sink.pushes()[0].1, sample_push());
}

#[tokio::test]
async fn chunked_body_without_content_length() {
    let server = TestServer::start().await;
    let encoded = sample_push().encode_to_vec();
    let request = request(
        &server.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        chunked(&encoded, 4),
    );
    assert!(request.headers().get("content-length").is_none());
    let reply = send(request, false).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // Chunked and gzipped together, as pyroscope-rs may send it.
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        chunked(&gzip(&encoded), 3),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let pushes = server.sink.pushes();
    assert_eq!(pushes.len(), 2);
    assert!(pushes.iter().all(|(_, p)| *p == sample_push()));
}

#[tokio::test]
async fn connect_over_h2c_on_the_same_port() {
    let server = TestServer::start().await;
    let json = serde_json::to_vec(&sample_push()).unwrap();
    let reply = send(
        request(
            &server.url(PUSH_PATH),
            &[("content-type", "application/json")],
            full(json),
        ),
        true,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // And HTTP/1.1 on the same listener.
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        full(PushRequest::default().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(server.sink.pushes().len(), 2);
}

#[tokio::test]
async fn tenant_header_when_multitenant() {
    let server = TestServer::multitenant().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("x-scope-orgid", "team-a"),
            ("authorization", "Bearer token"),
        ],
        full(sample_push().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(server.sink.pushes()[0].0, "team-a");
}
