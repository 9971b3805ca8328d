//! [`ApiError`]: every error an RPC can return, and the one place that maps
//! it to Connect codes, gRPC status numbers and HTTP statuses.
//!
//! Handlers in other crates build errors with [`ApiError::new`] or a helper
//! such as [`ApiError::invalid_argument`]; the protocol layer's own failures
//! (tenant, body, framing) get a variant each so tests can match on them.

use std::fmt;

use axum::http::StatusCode;

/// A Connect/gRPC status code (the same sixteen codes in both protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl Code {
    /// The Connect name, as in `{"code":"invalid_argument"}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// The numeric gRPC status (`grpc-status` trailer).
    pub fn grpc_code(self) -> u32 {
        match self {
            Code::Canceled => 1,
            Code::Unknown => 2,
            Code::InvalidArgument => 3,
            Code::DeadlineExceeded => 4,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::PermissionDenied => 7,
            Code::ResourceExhausted => 8,
            Code::FailedPrecondition => 9,
            Code::Aborted => 10,
            Code::OutOfRange => 11,
            Code::Unimplemented => 12,
            Code::Internal => 13,
            Code::Unavailable => 14,
            Code::DataLoss => 15,
            Code::Unauthenticated => 16,
        }
    }

    /// The HTTP status of a Connect unary error (Connect protocol table).
    pub fn http_status(self) -> StatusCode {
        let code = match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        };
        StatusCode::from_u16(code).expect("status codes in the table are valid")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned by an RPC, whatever protocol carried it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// An error raised by a handler (validation, limits, storage …).
    #[error("{message}")]
    Rpc { code: Code, message: String },
    /// The Content-Type is none of Connect, gRPC or gRPC-Web's.
    #[error(
        "unsupported content type {content_type:?}: use application/proto, application/json, \
         application/grpc[+proto|+json] or application/grpc-web[+proto|+json]"
    )]
    UnsupportedMediaType { content_type: String },
    /// Multi-tenancy is on and `X-Scope-OrgID` is absent.
    #[error("no org id: the X-Scope-OrgID header is required when multi-tenancy is enabled")]
    MissingTenant,
    /// `X-Scope-OrgID` breaks the tenant-ID rules.
    #[error("invalid X-Scope-OrgID: {reason}")]
    InvalidTenant { reason: String },
    /// The body (as sent, or after decompression) is over the limit.
    #[error("{what} exceeds limits.ingestion_body_limit_mb ({limit_bytes} bytes)")]
    BodyTooLarge {
        what: &'static str,
        limit_bytes: usize,
    },
    /// The body could not be read from the connection.
    #[error("reading request body: {0}")]
    BodyRead(String),
    /// A `Content-Encoding` / `grpc-encoding` other than gzip or identity.
    #[error("unsupported compression {0:?}: use gzip or identity")]
    UnsupportedEncoding(String),
    /// The body claims gzip but does not inflate.
    #[error("invalid gzip data: {0}")]
    BadGzip(String),
    /// The request message does not decode with the request's codec.
    #[error("invalid {codec} request message: {message}")]
    Decode {
        codec: &'static str,
        message: String,
    },
    /// The response message could not be encoded (a bug).
    #[error("encoding response: {0}")]
    Encode(String),
    /// gRPC / gRPC-Web length-prefixed framing is broken.
    #[error("invalid gRPC message framing: {0}")]
    BadFrame(String),
    /// A protocol header (`Connect-Protocol-Version`, timeouts) is invalid.
    #[error("invalid {header} header {value:?}")]
    BadHeader { header: &'static str, value: String },
    /// The client's deadline (`Connect-Timeout-Ms` / `grpc-timeout`) passed.
    #[error("deadline exceeded after {0:?}")]
    DeadlineExceeded(std::time::Duration),
    /// An RPC path (`/pkg.Service/Method`) that no service here has.
    #[error("unknown RPC method {path}: this server has no such service or method")]
    UnknownMethod { path: String },
    /// An API of a role this process does not run (`--target`).
    #[error("{api} is not served here: this kiln process runs [{runs}]; {hint}")]
    NotServed {
        /// What was asked for, e.g. "the push API (/push.v1.PusherService/Push)".
        api: String,
        /// The roles this process runs, comma-separated.
        runs: String,
        /// Where to send the request instead.
        hint: &'static str,
    },
}

impl ApiError {
    /// An error with any code, for handlers.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError::Rpc {
            code,
            message: message.into(),
        }
    }

    /// Bad input from the client (HTTP 400): validation failures.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// A limit was hit that may clear later (HTTP 429): rate limits.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message)
    }

    /// Try again later (HTTP 503): buffers full, storage failing.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }

    /// A server bug or unexpected failure (HTTP 500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// The Connect/gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Rpc { code, .. } => *code,
            ApiError::MissingTenant => Code::Unauthenticated,
            ApiError::UnsupportedMediaType { .. }
            | ApiError::InvalidTenant { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::BodyRead(_)
            | ApiError::BadGzip(_)
            | ApiError::Decode { .. }
            | ApiError::BadFrame(_)
            | ApiError::BadHeader { .. } => Code::InvalidArgument,
            ApiError::UnsupportedEncoding(_) => Code::Unimplemented,
            ApiError::Encode(_) => Code::Internal,
            ApiError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            ApiError::UnknownMethod { .. } | ApiError::NotServed { .. } => Code::Unimplemented,
        }
    }

    /// The HTTP status for Connect and plain HTTP responses. Two kinds
    /// depart from the code's status: an unsupported Content-Type is 415
    /// (no protocol could be chosen), and a path nothing here serves is 404,
    /// which Connect clients read as `unimplemented`.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnknownMethod { .. } | ApiError::NotServed { .. } => StatusCode::NOT_FOUND,
            other => other.code().http_status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_http_table() {
        let table = [
            (Code::Canceled, 499, 1),
            (Code::Unknown, 500, 2),
            (Code::InvalidArgument, 400, 3),
            (Code::DeadlineExceeded, 504, 4),
            (Code::NotFound, 404, 5),
            (Code::AlreadyExists, 409, 6),
            (Code::PermissionDenied, 403, 7),
            (Code::ResourceExhausted, 429, 8),
            (Code::FailedPrecondition, 400, 9),
            (Code::Aborted, 409, 10),
            (Code::OutOfRange, 400, 11),
            (Code::Unimplemented, 501, 12),
            (Code::Internal, 500, 13),
            (Code::Unavailable, 503, 14),
            (Code::DataLoss, 500, 15),
            (Code::Unauthenticated, 401, 16),
        ];
        for (code, http, grpc) in table {
            assert_eq!(code.http_status().as_u16(), http, "{code}");
            assert_eq!(code.grpc_code(), grpc, "{code}");
        }
    }

    #[test]
    fn protocol_errors_map_once() {
        assert_eq!(ApiError::MissingTenant.http_status(), 401);
        let e = ApiError::UnsupportedMediaType {
            content_type: "text/plain".into(),
        };
        assert_eq!(e.http_status(), 415);
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(ApiError::unavailable("full").http_status(), 503);
    }
}
