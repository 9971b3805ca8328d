//! `POST /api/v1/sql`: SQL over the tenant's profiles (`docs/sql.md`).
//!
//! ```text
//!  body: SQL text | JSON {"query": "…"}      tenant: X-Scope-OrgID (as every API)
//!   ─► kiln_sql::SqlEngine::query(tenant, sql, tenant's [limits] sql_*)
//!   ─► Accept: application/json (default) | text/csv | application/vnd.apache.arrow.stream
//! ```
//!
//! Errors are `{code, message}` JSON: 400 bad SQL, 403 refused statements
//! (DDL, DML, COPY, SET), 422 row or memory limit, 504 time limit, 503
//! storage failures, 501 when the server runs without SQL.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kiln_sql::encode::{Format, encode};
use kiln_sql::{SqlEngine, SqlError, SqlLimits};

use crate::config::{KilnConfig, Limits};
use crate::{metrics, tenant};

/// The route's path.
pub const SQL_PATH: &str = "/api/v1/sql";

/// The SQL limits of a tenant's `[limits]`.
pub fn sql_limits(limits: &Limits) -> SqlLimits {
    SqlLimits {
        timeout: limits.sql_timeout,
        max_memory_bytes: limits.sql_max_memory_bytes as usize,
        max_rows: limits.sql_max_rows,
    }
}

/// Flight SQL's tenancy: `X-Scope-OrgID` metadata under the same rules as
/// every API, and that tenant's SQL limits.
pub(crate) fn flight_tenancy(config: Arc<KilnConfig>) -> kiln_sql::flight::Tenancy {
    Arc::new(move |headers: &HeaderMap| {
        let tenant = tenant::resolve(headers, config.auth.multitenancy_enabled).map_err(|e| {
            tonic::Status::new(
                tonic::Code::from_i32(e.code().grpc_code() as i32),
                e.to_string(),
            )
        })?;
        let limits = sql_limits(config.limits_for(&tenant));
        Ok((tenant, limits))
    })
}

/// Adds `POST /api/v1/sql` to `router`; without an engine it answers 501.
pub(crate) fn routes(
    router: Router,
    config: Arc<KilnConfig>,
    sql: Option<Arc<SqlEngine>>,
) -> Router {
    router.route(
        SQL_PATH,
        post(move |headers: HeaderMap, body: Bytes| {
            let (config, sql) = (config.clone(), sql.clone());
            async move {
                let started = Instant::now();
                let response = handle(&config, sql.as_deref(), &headers, &body).await;
                metrics::record_http(SQL_PATH, response.status().as_u16(), started.elapsed());
                response
            }
        }),
    )
}

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "code": code, "message": message.to_string() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The status and code of each [`SqlError`].
fn status_of(e: &SqlError) -> (StatusCode, &'static str) {
    match e {
        SqlError::InvalidSql(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
        SqlError::Refused(_) => (StatusCode::FORBIDDEN, "permission_denied"),
        SqlError::RowLimit(_) | SqlError::MemoryLimit { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "resource_exhausted")
        }
        SqlError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
        SqlError::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        SqlError::Execution(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The SQL text of a request body.
fn query_text(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if json {
        #[derive(serde::Deserialize)]
        struct Body {
            query: String,
        }
        let parsed: Body = serde_json::from_slice(body)
            .map_err(|e| format!("the JSON body must be {{\"query\": \"<SQL>\"}}: {e}"))?;
        Ok(parsed.query)
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| "the SQL text is not valid UTF-8".to_string())
    }
}

async fn handle(
    config: &KilnConfig,
    sql: Option<&SqlEngine>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(engine) = sql else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "unimplemented",
            "SQL is not enabled on this server",
        );
    };
    let tenant = match tenant::resolve(headers, config.auth.multitenancy_enabled) {
        Ok(t) => t,
        Err(e) => return error(e.http_status(), e.code().as_str(), e),
    };
    let text = match query_text(headers, body) {
        Ok(t) => t,
        Err(m) => return error(StatusCode::BAD_REQUEST, "invalid_argument", m),
    };
    let format = Format::from_accept(
        headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let limits = sql_limits(config.limits_for(&tenant));
    let result = match engine.query(&tenant, &text, &limits).await {
        Ok(r) => r,
        Err(e) => {
            let (status, code) = status_of(&e);
            return error(status, code, e);
        }
    };
    match tokio::task::spawn_blocking(move || encode(&result, format)).await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, format.content_type())],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("encoding the result: {e}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("encoding task failed: {e}"),
        ),
    }
}
