//! Kiln's ports: one HTTP port that speaks every Pyroscope protocol.
//!
//! ```text
//!             ┌──────────────── kiln-server (this crate) ────────────────┐
//!  agents ──► │ TCP :4040 ─► hyper-util auto (HTTP/1.1 | h2c)            │
//!  Grafana    │   POST /pkg.Service/Method ─► rpc: Content-Type picks    │
//!  profilecli │        Connect | gRPC | gRPC-Web, codec proto | json     │
//!             │        tenant (X-Scope-OrgID) ─► bounded body, gzip      │
//!             │        ─► one handler per RPC ─────────────────────────► │ ─► PushSink (kiln-ingest)
//!             │           querier.v1.QuerierService/* ─► querier ──────► │ ─► QueryEngine (kiln-query)
//!             │   GET /pyroscope/{render,render-diff,label-values} ─┘    │
//!             │   POST /ingest ─► PushSink                               │
//!             │   POST /v1development/profiles (OTLP/HTTP) ─► otlp        │
//!             │   POST /api/v1/sql ─► sql_http ─► kiln-sql               │
//!             │   GET /ready, GET /metrics                               │
//!             └──────────────────────────────────────────────────────────┘
//! ```
//!
//! Parts:
//! * [`config`]: [`KilnConfig`], layered defaults < `kiln.toml` <
//!   `KILN_<SECTION>__<KEY>` < flags, with per-tenant limit overrides.
//! * `rpc`: the unary RPC layer; each RPC is written once as
//!   `async fn(RequestContext, Req) -> Result<Resp, ApiError>` and served as
//!   Connect, gRPC and gRPC-Web (the module docs explain why it is
//!   hand-written rather than tonic).
//! * `querier`: every `querier.v1.QuerierService` RPC and the HTTP render
//!   APIs, validated against the tenant's limits and answered by a
//!   [`kiln_query::QueryEngine`].
//! * [`tenant`]: tenant resolution and tenant-ID rules.
//! * [`ApiError`]: every RPC error, mapped to Connect/gRPC/HTTP in one place.
//! * [`metrics`]: metric names and the Prometheus recorder.
//! * [`Readiness`]: `/ready`, the probes of the dependencies of the roles
//!   this process runs.
//! * `unserved`: the fallback route — another role's API or an unknown
//!   RPC method gets `unimplemented` naming the roles or the method.
//! * [`serve_apis`] / [`router_for`]: the entry points, given the [`Apis`]
//!   of the roles this process runs; [`serve`] / [`router`] serve them all.
//!
//! Invariants:
//! * An RPC is answered only after its handler returns: for Push that is
//!   the sink's acknowledgement, never earlier.
//! * Request bodies are bounded before and after decompression by the
//!   tenant's `limits.ingestion_body_limit_mb`; bad input yields an error
//!   response, never a panic.
//! * With multi-tenancy off every request is tenant `anonymous`; with it on,
//!   no RPC runs without a valid `X-Scope-OrgID`.

pub mod config;
mod error;
mod http;
mod ingest_http;
mod ingest_sink;
pub mod metrics;
mod otlp;
mod push;
mod querier;
mod readiness;
mod rpc;
mod sql_http;
pub mod tenant;
mod unserved;
mod worker_auth;

pub use config::{ConfigError, ConfigSources, KilnConfig, Limits};
pub use error::{ApiError, Code};
pub use http::{Apis, router, router_for, router_with_sql, serve, serve_apis, serve_with_sql};
pub use ingest_sink::{IngestSink, ingest_limits};
pub use otlp::{OTLP_EXPORT_PATH, OTLP_HTTP_PATH};
pub use push::{PUSH_PATH, PushSink};
pub use querier::QUERIER_SERVICE;
pub use readiness::Readiness;
pub use rpc::{Codec, Protocol, RequestContext};
pub use sql_http::{SQL_PATH, sql_limits};
