//! The cloud backends: S3, Azure Blob and GCS through `object_store`.
//!
//! Each builder starts `from_env()`, so credentials come from the standard
//! variables of each cloud (`AWS_ACCESS_KEY_ID`, `AZURE_STORAGE_ACCOUNT_KEY`,
//! `GOOGLE_SERVICE_ACCOUNT`, …, plus instance metadata / managed identity
//! when those are absent) and never from Kiln's config file. The settings
//! below are applied over the environment when given.

use object_store::ClientConfigKey;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use std::str::FromStr;
use std::sync::Arc;

use crate::StoreError;

/// An S3 bucket (AWS or any S3-compatible store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `None`: AWS's regional endpoint (or `AWS_ENDPOINT`). Set it for
    /// MinIO, R2, moto, ….
    pub endpoint: Option<String>,
    /// `None`: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Permit `http://` endpoints (emulators, local MinIO).
    pub allow_http: bool,
    /// `https://endpoint/bucket/key` requests (true) rather than
    /// `https://bucket.endpoint/key` (virtual-hosted style; then the
    /// endpoint must include the bucket).
    pub path_style: bool,
    /// Folder inside the bucket that holds everything Kiln writes.
    pub prefix: Option<String>,
    /// Extra `object_store` keys (`aws_access_key_id`, …) applied over the
    /// environment: for tests and embedding programs. The server never sets
    /// them, so secrets stay out of its config file.
    pub options: Vec<(String, String)>,
}

/// An Azure Blob Storage container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureConfig {
    pub container: String,
    /// Storage account name; `None`: `AZURE_STORAGE_ACCOUNT_NAME`.
    pub account: Option<String>,
    /// Account URL; `None`: `https://<account>.blob.core.windows.net`.
    /// For Azurite: `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: Option<String>,
    /// Permit `http://` endpoints (Azurite).
    pub allow_http: bool,
    /// Folder inside the container that holds everything Kiln writes.
    pub prefix: Option<String>,
    /// Extra `object_store` keys (`azure_storage_account_key`, …) applied
    /// over the environment; see [`S3Config::options`].
    pub options: Vec<(String, String)>,
}

/// A Google Cloud Storage bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsConfig {
    pub bucket: String,
    /// Base URL of the API; `None`: `https://storage.googleapis.com`.
    pub endpoint: Option<String>,
    /// Permit `http://` endpoints (emulators).
    pub allow_http: bool,
    /// Folder inside the bucket that holds everything Kiln writes.
    pub prefix: Option<String>,
    /// Extra `object_store` keys (`google_service_account_key`, …) applied
    /// over the environment; see [`S3Config::options`].
    pub options: Vec<(String, String)>,
}

/// `s3://bucket/prefix at http://endpoint`.
pub(crate) fn describe(
    scheme: &str,
    bucket: &str,
    prefix: &Option<String>,
    endpoint: &Option<String>,
) -> String {
    let mut text = format!("{scheme}://{bucket}");
    if let Some(prefix) = prefix.as_deref().map(|p| p.trim_matches('/'))
        && !prefix.is_empty()
    {
        text.push('/');
        text.push_str(prefix);
    }
    if let Some(endpoint) = endpoint {
        text.push_str(" at ");
        text.push_str(endpoint);
    }
    text
}

pub(crate) fn open_s3(c: &S3Config) -> Result<Arc<dyn ObjectStore>, StoreError> {
    const BACKEND: &str = "s3";
    require(BACKEND, "bucket", &c.bucket)?;
    check_endpoint(BACKEND, &c.endpoint, c.allow_http)?;
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&c.bucket)
        .with_virtual_hosted_style_request(!c.path_style);
    if let Some(endpoint) = &c.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &c.region {
        builder = builder.with_region(region);
    }
    if c.allow_http {
        builder = builder.with_allow_http(true);
    }
    for (key, value) in &c.options {
        builder = builder.with_config(option_key::<AmazonS3ConfigKey>(BACKEND, key)?, value);
    }
    let store = builder.build().map_err(|source| StoreError::Build {
        backend: BACKEND,
        source,
    })?;
    with_prefix(BACKEND, store, &c.prefix)
}

pub(crate) fn open_azure(c: &AzureConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    const BACKEND: &str = "azure";
    require(BACKEND, "container", &c.container)?;
    check_endpoint(BACKEND, &c.endpoint, c.allow_http)?;
    let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(&c.container);
    if let Some(account) = &c.account {
        builder = builder.with_account(account);
    }
    if let Some(endpoint) = &c.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    if c.allow_http {
        builder = builder.with_allow_http(true);
    }
    for (key, value) in &c.options {
        builder = builder.with_config(option_key::<AzureConfigKey>(BACKEND, key)?, value);
    }
    let store = builder.build().map_err(|source| StoreError::Build {
        backend: BACKEND,
        source,
    })?;
    with_prefix(BACKEND, store, &c.prefix)
}

pub(crate) fn open_gcs(c: &GcsConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    const BACKEND: &str = "gcs";
    require(BACKEND, "bucket", &c.bucket)?;
    check_endpoint(BACKEND, &c.endpoint, c.allow_http)?;
    let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(&c.bucket);
    if let Some(endpoint) = &c.endpoint {
        builder = builder.with_base_url(endpoint);
    }
    if c.allow_http {
        // Through the config key: `with_client_options` would drop the
        // client settings read from the environment.
        builder = builder.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
    }
    for (key, value) in &c.options {
        builder = builder.with_config(option_key::<GoogleConfigKey>(BACKEND, key)?, value);
    }
    let store = builder.build().map_err(|source| StoreError::Build {
        backend: BACKEND,
        source,
    })?;
    with_prefix(BACKEND, store, &c.prefix)
}

fn require(backend: &'static str, setting: &str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Config {
            backend,
            setting: setting.to_owned(),
            message: "is required".to_owned(),
        });
    }
    Ok(())
}

/// An endpoint must be an absolute http(s) URL, and `http://` needs
/// `allow_http` (otherwise the first request would fail with a bare
/// "URL scheme is not allowed").
fn check_endpoint(
    backend: &'static str,
    endpoint: &Option<String>,
    allow_http: bool,
) -> Result<(), StoreError> {
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    let bad = |message: String| StoreError::Config {
        backend,
        setting: "endpoint".to_owned(),
        message,
    };
    let is_http = endpoint.starts_with("http://");
    if !is_http && !endpoint.starts_with("https://") {
        return Err(bad(format!(
            "{endpoint:?} is not an http:// or https:// URL"
        )));
    }
    if is_http && !allow_http {
        return Err(bad(format!(
            "{endpoint:?} is plain http but allow_http is false"
        )));
    }
    Ok(())
}

fn option_key<K: FromStr>(backend: &'static str, key: &str) -> Result<K, StoreError> {
    key.parse().map_err(|_| StoreError::Config {
        backend,
        setting: key.to_owned(),
        message: "is not an object_store option of this backend".to_owned(),
    })
}

/// Wraps `store` so that every path lives under `prefix` (if any).
fn with_prefix<S: ObjectStore>(
    backend: &'static str,
    store: S,
    prefix: &Option<String>,
) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let prefix = prefix.as_deref().map(|p| p.trim_matches('/')).unwrap_or("");
    if prefix.is_empty() {
        return Ok(Arc::new(store));
    }
    let path = Path::parse(prefix).map_err(|e| StoreError::Config {
        backend,
        setting: "prefix".to_owned(),
        message: format!("{prefix:?} is not a valid object path: {e}"),
    })?;
    Ok(Arc::new(PrefixStore::new(store, path)))
}
