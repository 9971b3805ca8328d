//! The cluster secret between frontends and queriers.
//!
//! A worker runs whatever plan it is sent, over any tenant's blocks (the
//! plan carries the block metas), so it must only take plans from the
//! cluster's frontends. With `querier.worker_secret` set, frontends send
//! `authorization: Bearer <secret>` on every worker call and queriers
//! refuse calls without it (`unauthenticated`), so reaching a querier's
//! port is no longer enough to read every tenant's data.

use std::fmt;
use std::sync::Arc;
use tonic::codegen::http::HeaderValue;

/// The header worker calls carry the secret in.
pub const WORKER_AUTH_HEADER: &str = "authorization";

/// A shared secret; its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkerSecret(Arc<str>);

impl fmt::Debug for WorkerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerSecret(<redacted>)")
    }
}

impl WorkerSecret {
    /// The secret `value`; `None` unless it is a bearer token's characters:
    /// visible ASCII, no spaces, not empty.
    pub fn new(value: &str) -> Option<Self> {
        let visible = !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic());
        visible.then(|| Self(Arc::from(value)))
    }

    /// The `authorization` header value a frontend sends.
    pub fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .expect("checked to be a valid header value in new()");
        value.set_sensitive(true);
        value
    }

    /// Whether a received `authorization` header carries this secret. The
    /// comparison takes the same time wherever the first difference is, so
    /// timing does not reveal a prefix of the secret.
    pub fn accepts(&self, header: Option<&HeaderValue>) -> bool {
        let Some(token) = header.and_then(|h| h.as_bytes().strip_prefix(b"Bearer ")) else {
            return false;
        };
        let expected = self.0.as_bytes();
        token.len() == expected.len()
            && token
                .iter()
                .zip(expected)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_its_own_bearer_token() {
        let secret = WorkerSecret::new("s3cret-of-the-cluster").expect("valid");
        assert!(secret.accepts(Some(&secret.header_value())));
        let other = WorkerSecret::new("s3cret-of-the-clusteR").expect("valid");
        assert!(!secret.accepts(Some(&other.header_value())));
        let short = HeaderValue::from_static("Bearer s3cret");
        assert!(!secret.accepts(Some(&short)));
        let bare = HeaderValue::from_static("s3cret-of-the-cluster");
        assert!(
            !secret.accepts(Some(&bare)),
            "the Bearer scheme is required"
        );
        assert!(!secret.accepts(None));
        assert!(WorkerSecret::new("line\nbreak").is_none());
        assert!(WorkerSecret::new("two words").is_none());
        assert!(WorkerSecret::new("").is_none());
        assert_eq!(format!("{secret:?}"), "WorkerSecret(<redacted>)");
    }
}
