//! Which tenant a request belongs to (pyroscope-api §6, design §6).
//!
//! Multi-tenancy off: every request is [`ANONYMOUS`] and `X-Scope-OrgID` is
//! ignored, like Pyroscope. On: the header is required and validated with
//! the same rules as Pyroscope/dskit, because the tenant ID becomes part of
//! object-store paths and metastore keys. `Authorization` headers (Basic or
//! Bearer) are accepted and ignored everywhere: Pyroscope has no auth layer
//! and every client may send one.

use axum::http::HeaderMap;

use crate::error::ApiError;

/// Tenant of every request when multi-tenancy is disabled.
pub const ANONYMOUS: &str = "anonymous";

/// The tenant header, as Pyroscope and Grafana send it.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// Longest tenant ID accepted.
pub const MAX_TENANT_ID_LENGTH: usize = 150;

/// Resolves the tenant of a request.
pub fn resolve(headers: &HeaderMap, multitenancy_enabled: bool) -> Result<String, ApiError> {
    if !multitenancy_enabled {
        return Ok(ANONYMOUS.to_string());
    }
    let value = headers
        .get(TENANT_HEADER)
        .ok_or(ApiError::MissingTenant)?
        .to_str()
        .map_err(|_| ApiError::InvalidTenant {
            reason: "tenant ID is not valid ASCII".to_string(),
        })?
        .trim();
    if value.is_empty() {
        return Err(ApiError::MissingTenant);
    }
    validate_tenant_id(value).map_err(|reason| ApiError::InvalidTenant {
        reason: format!("tenant ID {value:?}: {reason}"),
    })?;
    Ok(value.to_string())
}

/// Checks dskit's tenant-ID rules: 1–150 characters from
/// `[A-Za-z0-9]` and `! - _ . * ' ( )`, and not `.` or `..`.
pub fn validate_tenant_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("tenant ID is empty");
    }
    if id.len() > MAX_TENANT_ID_LENGTH {
        return Err("tenant ID is longer than 150 characters");
    }
    if id == "." || id == ".." {
        return Err("tenant ID must not be \".\" or \"..\"");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
    if !id.chars().all(allowed) {
        return Err("tenant ID has a character outside A-Z, a-z, 0-9 and ! - _ . * ' ( )");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(tenant: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = tenant {
            h.insert(TENANT_HEADER, HeaderValue::from_str(t).unwrap());
        }
        h.insert("authorization", HeaderValue::from_static("Bearer ignored"));
        h
    }

    #[test]
    fn disabled_ignores_header() {
        assert_eq!(resolve(&headers(Some("t1")), false).unwrap(), ANONYMOUS);
        assert_eq!(resolve(&headers(None), false).unwrap(), ANONYMOUS);
    }

    #[test]
    fn enabled_requires_header() {
        assert!(matches!(
            resolve(&headers(None), true),
            Err(ApiError::MissingTenant)
        ));
        assert!(matches!(
            resolve(&headers(Some("  ")), true),
            Err(ApiError::MissingTenant)
        ));
        assert_eq!(resolve(&headers(Some("team-a")), true).unwrap(), "team-a");
    }

    #[test]
    fn tenant_id_rules() {
        for ok in ["a", "Team_1", "x.y", "a!b*c'(d)", "-", &"a".repeat(150)] {
            assert_eq!(validate_tenant_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a|b",
            "é",
            "a:b",
            &"a".repeat(151),
        ] {
            assert!(validate_tenant_id(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            resolve(&headers(Some("a/b")), true),
            Err(ApiError::InvalidTenant { .. })
        ));
    }
}
