//! The legacy `/ingest` API (spec §5): Pyroscope's statuses are 400 for bad
//! parameters, 413 for oversize bodies and 422 for what cannot be converted
//! (unknown formats and profile types).

use hyper::Method;

use super::{Case, run_all, still_serving, stored_services};
use crate::fixtures::{PprofBuilder, gzip};
use crate::server::*;

const OCTET: (&str, &str) = ("content-type", "binary/octet-stream");

fn folded(name: &str, extra_query: &str) -> String {
    format!("/ingest?name={name}&from=now&sampleRate=100{extra_query}")
}

const BOUNDARY: &str = "kilncaseboundary";

/// A multipart body with the given `(part name, bytes)` parts.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.pprof\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

fn multipart_case(name: &'static str, parts: &[(&str, &[u8])]) -> Case {
    let (content_type, body) = multipart(parts);
    Case::post(
        name,
        "/ingest?name=go-app&format=pprof",
        &[("content-type", &content_type)],
        body,
    )
}

pub fn cases() -> Vec<Case> {
    let pprof = PprofBuilder::cpu().sample(&["main"], &[5]).encode();
    let pprof_path = "/ingest?name=app&format=pprof";
    vec![
        Case::post(
            "format=jfr",
            "/ingest?name=app&format=jfr",
            &[OCTET],
            pprof.clone(),
        )
        .expect(422, "invalid_argument", &["format=jfr", "not supported"]),
        Case::post(
            "format=speedscope",
            "/ingest?name=app&format=speedscope",
            &[OCTET],
            "{}",
        )
        .expect(422, "invalid_argument", &["format=speedscope"]),
        Case::post(
            "unknown name suffix",
            folded("app.bogus", ""),
            &[OCTET],
            "a;b 1\n",
        )
        .expect(
            422,
            "invalid_argument",
            &["unknown profile type", "app.bogus"],
        ),
        Case::post(
            "bad from",
            "/ingest?name=app.cpu&from=yesterday",
            &[OCTET],
            "a;b 1\n",
        )
        .expect(
            400,
            "invalid_argument",
            &["invalid from parameter", "yesterday"],
        ),
        Case::post(
            "bad until",
            "/ingest?name=app.cpu&until=now-3x",
            &[OCTET],
            "a;b 1\n",
        )
        .expect(400, "invalid_argument", &["invalid until parameter", "3x"]),
        Case::post(
            "bad sampleRate",
            folded("app.cpu", "&sampleRate=fast"),
            &[OCTET],
            "a;b 1\n",
        )
        .expect(400, "invalid_argument", &["invalid sampleRate", "fast"]),
        Case::post(
            "negative sampleRate",
            folded("app.cpu", "&sampleRate=-100"),
            &[OCTET],
            "a;b 1\n",
        )
        .expect(400, "invalid_argument", &["invalid sampleRate", "-100"]),
        Case::post("missing name", "/ingest?format=folded", &[OCTET], "a;b 1\n").expect(
            400,
            "invalid_argument",
            &["name query parameter is required"],
        ),
        Case::post(
            "name with unclosed brace",
            "/ingest?name=app.cpu%7Benv%3Dprod",
            &[OCTET],
            "a;b 1\n",
        )
        .expect(
            400,
            "invalid_argument",
            &["invalid name parameter", "closing '}'"],
        ),
        Case::post(
            "invalid label name in name",
            "/ingest?name=app.cpu%7Bbad-name%3Dx%7D",
            &[OCTET],
            "a;b 1\n",
        )
        .expect(400, "invalid_argument", &["invalid label name", "bad-name"]),
        Case::post(
            "folded line without count",
            folded("app.cpu", ""),
            &[OCTET],
            "a;b;c\n",
        )
        .expect(
            400,
            "invalid_argument",
            &["invalid folded line 1", "missing sample count"],
        ),
        Case::post(
            "folded body that is not UTF-8",
            folded("app.cpu", ""),
            &[OCTET],
            b"a;\xff\xfe 1\n".to_vec(),
        )
        .expect(400, "invalid_argument", &["not valid UTF-8"]),
        Case::post(
            "pprof body that is not pprof",
            pprof_path,
            &[OCTET],
            "hello, world",
        )
        .expect(400, "invalid_argument", &["invalid pprof protobuf"]),
        Case::post(
            "gzip bomb as pprof (5 MiB inflated)",
            pprof_path,
            &[OCTET],
            gzip(&vec![0u8; 5 << 20]),
        )
        .expect(
            413,
            "invalid_argument",
            &["exceeds the limit of 4194304 bytes"],
        ),
        Case::post(
            "Content-Encoding gzip over garbage",
            folded("app.cpu", ""),
            &[OCTET, ("content-encoding", "gzip")],
            b"\x1f\x8b\x08\x00not deflate".to_vec(),
        )
        .expect(400, "invalid_argument", &["invalid gzip data"]),
        Case::post(
            "unsupported Content-Encoding br",
            folded("app.cpu", ""),
            &[OCTET, ("content-encoding", "br")],
            "a;b 1\n",
        )
        .expect(415, "unimplemented", &["unsupported compression", "br"]),
        multipart_case(
            "multipart with prev_profile",
            &[("profile", &pprof), ("prev_profile", &pprof)],
        )
        .expect(
            400,
            "invalid_argument",
            &["prev_profile", "update pyroscope-go"],
        ),
        multipart_case("multipart without a profile part", &[("other", &pprof)]).expect(
            400,
            "invalid_argument",
            &["no profile part"],
        ),
        multipart_case(
            "multipart with a bad sample_type_config",
            &[("profile", &pprof), ("sample_type_config", b"{not json")],
        )
        .expect(400, "invalid_argument", &["invalid sample_type_config"]),
        Case::post(
            "multipart with a broken boundary",
            "/ingest?name=app&format=pprof",
            &[("content-type", "multipart/form-data; boundary=nothere")],
            "--other\r\n\r\n",
        )
        .expect(400, "invalid_argument", &["invalid multipart body"]),
        Case {
            method: Method::GET,
            status: 405,
            code: None,
            ..Case::post("GET /ingest", "/ingest?name=app", &[], Vec::new())
        },
    ]
}

#[tokio::test]
async fn legacy_ingest_errors() {
    let server = KilnServer::start().await;
    run_all(&server, &cases()).await;
    still_serving(&server, None).await;
    let stored = server.stored().await;
    assert_eq!(stored_services(&stored, "anonymous"), ["still-serving"]);
}
