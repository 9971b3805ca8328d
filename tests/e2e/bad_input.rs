//! The bad-input suite: malformed, oversized, invalid and over-limit
//! requests on every ingest path. Each case asserts the HTTP status, the
//! Connect/gRPC code where there is one, and that the message names the
//! problem (the limit and its value, the bad field), because a client
//! author debugging a rejected push sees nothing else. After the bad
//! requests a good push must still succeed and be the only thing stored:
//! rejected input leaves no trace and does not wedge the server.
//!
//! * [`rpc`]: the Connect/gRPC layer (body, encoding, content type, method).
//! * [`pprof`]: profile and label validation, over Connect and gRPC.
//! * [`ingest`]: the legacy `/ingest` API.
//! * [`limits`]: tenancy, the time window, rate, series and body limits,
//!   each on a server configured for it.

mod ingest;
mod limits;
mod pprof;
mod rpc;

use hyper::Method;

use crate::fixtures::cpu_push;
use crate::server::*;

/// One bad request and the answer it must get.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub status: u16,
    /// The JSON error's `code`; `None` for answers with no JSON body (405).
    pub code: Option<&'static str>,
    /// Substrings the error message must contain.
    pub parts: Vec<&'static str>,
}

impl Case {
    /// A POST expecting a JSON `{code, message}` error.
    pub fn post(
        name: &'static str,
        path: impl Into<String>,
        headers: &[(&'static str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Case {
            name,
            method: Method::POST,
            path: path.into(),
            headers: headers.iter().map(|(n, v)| (*n, v.to_string())).collect(),
            body: body.into(),
            status: 400,
            code: Some("invalid_argument"),
            parts: vec![],
        }
    }

    /// The expected status, code and message parts.
    pub fn expect(mut self, status: u16, code: &'static str, parts: &[&'static str]) -> Self {
        self.status = status;
        self.code = Some(code);
        self.parts = parts.to_vec();
        self
    }

    pub async fn run(&self, server: &KilnServer) {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = send(
            request(
                self.method.clone(),
                &server.url(&self.path),
                &headers,
                full(self.body.clone()),
            ),
            false,
        )
        .await;
        self.check(&reply);
    }

    #[track_caller]
    pub fn check(&self, reply: &Reply) {
        let name = self.name;
        assert_eq!(reply.status, self.status, "case {name:?}: {reply:?}");
        if self.status == 405 {
            assert!(
                reply.header("allow").contains("POST"),
                "case {name:?}: {reply:?}"
            );
        }
        let Some(code) = self.code else { return };
        assert_eq!(
            reply.header("content-type"),
            "application/json",
            "case {name:?}: {reply:?}"
        );
        let json = reply.json();
        assert_eq!(json["code"], code, "case {name:?}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        for part in &self.parts {
            assert!(
                message.contains(part),
                "case {name:?}: message {message:?} does not mention {part:?}"
            );
        }
    }
}

/// Runs `cases` one after the other (each error must come back before the
/// next request goes out).
pub async fn run_all(server: &KilnServer, cases: &[Case]) {
    for case in cases {
        case.run(server).await;
    }
}

/// A good push after the bad ones: accepted, and then stored.
pub async fn still_serving(server: &KilnServer, tenant: Option<&str>) {
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-scope-orgid", t)).into_iter().collect();
    let push = cpu_push("still-serving", &[], 1_000_000);
    let reply = push_proto(server, &push, &headers).await;
    assert_eq!(reply.status, 200, "a good push after bad ones: {reply:?}");
    let stored = server.stored().await;
    let tenant = tenant.unwrap_or("anonymous");
    assert_eq!(
        stored.totals(tenant, "still-serving").values().sum::<i64>(),
        1_000_000,
        "{stored:#?}"
    );
}

/// Services stored for `tenant`, sorted.
pub fn stored_services(stored: &Stored, tenant: &str) -> Vec<String> {
    let mut services: Vec<String> = stored
        .series
        .iter()
        .filter(|s| s.tenant == tenant)
        .map(|s| s.service().to_string())
        .collect();
    services.sort();
    services.dedup();
    services
}

/// The issue asks for at least 30 cases; count the table-driven ones plus
/// the cases of [`limits`], which need their own servers.
#[test]
fn the_suite_has_at_least_thirty_cases() {
    let tables = rpc::cases().len() + pprof::cases().len() + ingest::cases().len();
    let tables = tables + rpc::GRPC_CASES;
    let total = tables + limits::CASES;
    assert!(total >= 30, "only {total} bad-input cases");
}
