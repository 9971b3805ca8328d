//! `[storage]`: where blocks and the metastore live.
//!
//! One section per cloud backend, each always present with empty defaults,
//! so that every key can be set from `KILN_STORAGE__<BACKEND>__<KEY>` (the
//! environment layer only accepts keys that have a default). Empty strings
//! mean "not set": the cloud's own environment variables or defaults apply.
//! Credentials are never config keys; they come from each cloud's standard
//! environment (docs/operations.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Root directory of the `filesystem` backend.
    pub data_dir: PathBuf,
    pub s3: S3Storage,
    pub azure: AzureStorage,
    pub gcs: GcsStorage,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Filesystem,
            data_dir: PathBuf::from("./data"),
            s3: S3Storage::default(),
            azure: AzureStorage::default(),
            gcs: GcsStorage::default(),
        }
    }
}

/// Object-store implementation behind `[storage]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A local directory (`storage.data_dir`), made durable with fsync.
    Filesystem,
    /// Amazon S3 or an S3-compatible store (`[storage.s3]`).
    S3,
    /// Azure Blob Storage (`[storage.azure]`).
    Azure,
    /// Google Cloud Storage (`[storage.gcs]`).
    Gcs,
}

/// `[storage.s3]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Storage {
    /// Bucket name; required with `backend = "s3"`.
    pub bucket: String,
    /// Custom endpoint (MinIO, R2, …); empty: AWS (or `AWS_ENDPOINT`).
    pub endpoint: String,
    /// Region; empty: `AWS_REGION`/`AWS_DEFAULT_REGION`, else us-east-1.
    pub region: String,
    /// Permit a plain `http://` endpoint.
    pub allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`); false: virtual-hosted
    /// (`bucket.endpoint/key`, the endpoint must then include the bucket).
    pub path_style: bool,
    /// Folder inside the bucket for everything Kiln writes; empty: the root.
    pub prefix: String,
}

impl Default for S3Storage {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: String::new(),
            region: String::new(),
            allow_http: false,
            path_style: true,
            prefix: String::new(),
        }
    }
}

/// `[storage.azure]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureStorage {
    /// Container name; required with `backend = "azure"`.
    pub container: String,
    /// Storage account; empty: `AZURE_STORAGE_ACCOUNT_NAME`.
    pub account: String,
    /// Account URL; empty: `https://<account>.blob.core.windows.net`.
    pub endpoint: String,
    /// Permit a plain `http://` endpoint (Azurite).
    pub allow_http: bool,
    /// Folder inside the container for everything Kiln writes.
    pub prefix: String,
}

/// `[storage.gcs]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcsStorage {
    /// Bucket name; required with `backend = "gcs"`.
    pub bucket: String,
    /// API base URL; empty: `https://storage.googleapis.com`.
    pub endpoint: String,
    /// Permit a plain `http://` endpoint (emulators).
    pub allow_http: bool,
    /// Folder inside the bucket for everything Kiln writes.
    pub prefix: String,
}

impl StorageConfig {
    /// Why the section is inconsistent, if it is: `(key, message)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let backend = match self.backend {
            StorageBackend::Filesystem => {
                if self.data_dir.as_os_str().is_empty() {
                    return Some(("storage.data_dir", "must not be empty".into()));
                }
                return None;
            }
            StorageBackend::S3 => "s3",
            StorageBackend::Azure => "azure",
            StorageBackend::Gcs => "gcs",
        };
        let (name_key, name, endpoint_key, endpoint, allow_http) = match self.backend {
            StorageBackend::S3 => (
                "storage.s3.bucket",
                &self.s3.bucket,
                "storage.s3.endpoint",
                &self.s3.endpoint,
                self.s3.allow_http,
            ),
            StorageBackend::Azure => (
                "storage.azure.container",
                &self.azure.container,
                "storage.azure.endpoint",
                &self.azure.endpoint,
                self.azure.allow_http,
            ),
            _ => (
                "storage.gcs.bucket",
                &self.gcs.bucket,
                "storage.gcs.endpoint",
                &self.gcs.endpoint,
                self.gcs.allow_http,
            ),
        };
        if name.trim().is_empty() {
            return Some((
                name_key,
                format!("is required when storage.backend = \"{backend}\""),
            ));
        }
        if endpoint.is_empty() {
            return None;
        }
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return Some((
                endpoint_key,
                format!("{endpoint:?} is not an http:// or https:// URL"),
            ));
        }
        if endpoint.starts_with("http://") && !allow_http {
            return Some((
                endpoint_key,
                format!(
                    "{endpoint:?} is plain http; set storage.{backend}.allow_http = true to permit it"
                ),
            ));
        }
        None
    }
}
