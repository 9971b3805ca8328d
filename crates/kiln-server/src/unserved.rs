//! Answers for requests this process does not serve: APIs of roles it
//! doesn't run (`--target`), unknown RPC methods and unknown paths.
//!
//! ```text
//!  no route matched ─► a known API of a role not run here?
//!                        yes ─► unimplemented: "… this kiln process runs [ingester]; send queries to a query-frontend"
//!                      /pkg.Service/Method?  ─► unimplemented: "unknown RPC method …"
//!                      else                  ─► 404 not found
//! ```
//!
//! Every refusal is framed for the caller's protocol (see
//! `rpc::error_response`): gRPC and gRPC-Web clients get `grpc-status: 12`
//! (unimplemented) with the message, Connect and plain HTTP clients a
//! JSON `{"code":"unimplemented","message":…}` body with HTTP 404, which
//! Connect clients also read as unimplemented.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::config::{Role, Target};
use crate::error::{ApiError, Code};
use crate::otlp::OTLP_HTTP_PATH;
use crate::{metrics, rpc};

/// How a family of paths is matched.
#[derive(Debug, Clone, Copy)]
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
}

impl Match {
    fn matches(self, path: &str) -> bool {
        match self {
            Match::Exact(p) => path == p,
            Match::Prefix(p) => path.starts_with(p),
        }
    }
}

/// One public API and the roles that serve it.
struct Family {
    paths: &'static [Match],
    what: &'static str,
    served_by: &'static [Role],
    hint: &'static str,
}

/// The OTLP gRPC service prefix (its one method is `OTLP_EXPORT_PATH`).
const OTLP_SERVICE: &str = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/";

const PUSH_HINT: &str = "send pushes to an ingester";
const QUERY_HINT: &str = "send queries to a query-frontend";

const FAMILIES: &[Family] = &[
    Family {
        paths: &[
            Match::Prefix("/push.v1.PusherService/"),
            Match::Prefix(OTLP_SERVICE),
            Match::Exact("/ingest"),
            Match::Exact("/pyroscope/ingest"),
            Match::Exact(OTLP_HTTP_PATH),
        ],
        what: "the push API",
        served_by: &[Role::Ingester],
        hint: PUSH_HINT,
    },
    Family {
        paths: &[
            Match::Prefix("/querier.v1.QuerierService/"),
            Match::Prefix("/pyroscope/render"),
            Match::Exact("/pyroscope/label-values"),
            Match::Exact(crate::sql_http::SQL_PATH),
        ],
        what: "the query API",
        served_by: &[Role::QueryFrontend],
        hint: QUERY_HINT,
    },
    Family {
        paths: &[Match::Prefix(kiln_sql::flight::FLIGHT_PATH_PREFIX)],
        what: "Arrow Flight SQL",
        served_by: &[Role::QueryFrontend],
        hint: "send Flight SQL to a query-frontend",
    },
    Family {
        paths: &[Match::Prefix(kiln_query::distributed::WORKER_PATH_PREFIX)],
        what: "the distributed query worker",
        served_by: &[Role::Querier],
        hint: "list only querier processes in querier.peers",
    },
    Family {
        paths: &[
            Match::Exact("/"),
            Match::Exact("/ui"),
            Match::Prefix("/ui/"),
        ],
        what: "the web UI",
        served_by: &[Role::QueryFrontend],
        hint: "open the UI on a query-frontend",
    },
];

/// The router's fallback: called for every request no route matched.
pub(crate) fn fallback(
    target: Target,
) -> impl Fn(Request) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    let target = Arc::new(target);
    move |request: Request| std::future::ready(answer(&target, &request))
}

fn answer(target: &Target, request: &Request) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let err = match refusal(target, path) {
        Some(err) => err,
        None if is_rpc_path(path) => ApiError::UnknownMethod {
            path: path.to_string(),
        },
        None => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    let protocol = rpc::Wire::detect(request.headers()).map_or("http", |w| w.protocol.as_str());
    metrics::record_rpc(
        "unserved",
        protocol,
        Some(Code::Unimplemented),
        started.elapsed(),
    );
    tracing::debug!(path, error = %err, "refused");
    rpc::error_response(request.headers(), &err)
}

/// The refusal for `path` if it belongs to an API none of whose roles
/// this process runs.
fn refusal(target: &Target, path: &str) -> Option<ApiError> {
    let family = FAMILIES
        .iter()
        .find(|f| f.paths.iter().any(|m| m.matches(path)))?;
    if family.served_by.iter().any(|role| target.runs(*role)) {
        return None; // served here: an unknown method or sub-path
    }
    Some(ApiError::NotServed {
        api: format!("{} ({path})", family.what),
        runs: target
            .roles()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        hint: family.hint,
    })
}

/// `/pkg.Service/Method`: two segments, the first a dotted service name.
fn is_rpc_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    service.contains('.') && ident(service) && ident(method) && !method.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::OTLP_EXPORT_PATH;

    fn target(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn refusals_name_the_roles_and_where_to_go() {
        let err = refusal(
            &target("ingester"),
            "/querier.v1.QuerierService/SelectMergeStacktraces",
        )
        .expect("refused");
        let message = err.to_string();
        assert!(
            message.contains("this kiln process runs [ingester]"),
            "{message}"
        );
        assert!(
            message.contains("send queries to a query-frontend"),
            "{message}"
        );
        assert_eq!(err.code(), Code::Unimplemented);
        assert_eq!(err.http_status(), StatusCode::NOT_FOUND);

        let err =
            refusal(&target("querier,compactor"), "/push.v1.PusherService/Push").expect("refused");
        assert!(
            err.to_string()
                .contains("runs [compactor, querier]; send pushes to an ingester"),
            "{err}"
        );
        assert!(refusal(&target("query-frontend"), "/ingest").is_some());
        assert!(refusal(&target("query-frontend"), OTLP_EXPORT_PATH).is_some());
        assert!(refusal(&target("ingester"), "/pyroscope/render-diff").is_some());
        assert!(refusal(&target("ingester"), "/").is_some());
        assert!(
            refusal(
                &target("compactor"),
                "/arrow.flight.protocol.FlightService/DoGet"
            )
            .is_some()
        );
    }

    #[test]
    fn served_families_and_unknown_paths_are_not_refusals() {
        let all = Target::all();
        assert!(refusal(&all, "/push.v1.PusherService/Nope").is_none());
        assert!(
            refusal(
                &target("query-frontend"),
                "/arrow.flight.protocol.FlightService/DoGet"
            )
            .is_none()
        );
        assert!(refusal(&target("querier"), "/worker.WorkerService/ExecuteTask").is_none());
        assert!(
            refusal(
                &target("querier"),
                "/arrow.flight.protocol.FlightService/DoGet"
            )
            .is_some()
        );
        assert!(
            refusal(
                &target("query-frontend"),
                "/worker.WorkerService/ExecuteTask"
            )
            .is_some()
        );
        assert!(refusal(&target("ingester"), "/push.v1.PusherService/Push").is_none());
        assert!(refusal(&target("ingester"), "/nothing/here").is_none());
        assert!(refusal(&target("ingester"), "/uix").is_none());
    }

    #[test]
    fn rpc_paths() {
        assert!(is_rpc_path("/push.v1.PusherService/Push"));
        assert!(is_rpc_path("/grpc.health.v1.Health/Check"));
        assert!(!is_rpc_path("/pyroscope/render"));
        assert!(!is_rpc_path("/ui/app.js"));
        assert!(!is_rpc_path("/a.b/c/d"));
        assert!(!is_rpc_path("/"));
    }
}
