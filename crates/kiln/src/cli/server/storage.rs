//! `[storage]` → the object store: the filesystem with fsync, or S3, Azure
//! Blob or GCS with credentials from each cloud's standard environment.
//! Opening checks access once, so a missing bucket or a wrong endpoint
//! stops the server at startup with a message naming the store.

use anyhow::Context;
use kiln_server::config::{StorageBackend, StorageConfig};
use kiln_store::{AzureConfig, GcsConfig, S3Config, StoreConfig, check_access, open_store};
use object_store::ObjectStore;
use std::sync::Arc;

/// The store `[storage]` describes, checked to be reachable.
pub async fn open(storage: &StorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let config = store_config(storage);
    let store = open_store(&config).with_context(|| match storage.backend {
        StorageBackend::Filesystem => "opening the data directory (storage.data_dir)".to_owned(),
        StorageBackend::Azure => "opening the object store (storage.backend = \"azure\", \
            [storage.azure]; the account comes from storage.azure.account or \
            AZURE_STORAGE_ACCOUNT_NAME)"
            .to_owned(),
        backend => format!(
            "opening the object store (storage.backend = {:?}, [storage.{}])",
            section(backend),
            section(backend)
        ),
    })?;
    check_access(&*store, &config).await.with_context(|| {
        format!(
            "storage check failed: is the bucket/container in [storage.{}] created, \
             the endpoint right and the credentials valid?",
            section(storage.backend)
        )
    })?;
    Ok(store)
}

fn section(backend: StorageBackend) -> &'static str {
    match backend {
        StorageBackend::Filesystem => "filesystem",
        StorageBackend::S3 => "s3",
        StorageBackend::Azure => "azure",
        StorageBackend::Gcs => "gcs",
    }
}

/// Empty config strings mean "not set".
fn set(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.trim().to_owned())
}

/// `[storage]` as a `kiln_store` config. Credentials are left to the
/// environment: the server never passes any.
pub fn store_config(storage: &StorageConfig) -> StoreConfig {
    match storage.backend {
        StorageBackend::Filesystem => StoreConfig::Filesystem {
            root: storage.data_dir.clone(),
        },
        StorageBackend::S3 => {
            let s3 = &storage.s3;
            StoreConfig::S3(S3Config {
                bucket: s3.bucket.clone(),
                endpoint: set(&s3.endpoint),
                region: set(&s3.region),
                allow_http: s3.allow_http,
                path_style: s3.path_style,
                prefix: set(&s3.prefix),
                options: Vec::new(),
            })
        }
        StorageBackend::Azure => {
            let azure = &storage.azure;
            StoreConfig::Azure(AzureConfig {
                container: azure.container.clone(),
                account: set(&azure.account),
                endpoint: set(&azure.endpoint),
                allow_http: azure.allow_http,
                prefix: set(&azure.prefix),
                options: Vec::new(),
            })
        }
        StorageBackend::Gcs => {
            let gcs = &storage.gcs;
            StoreConfig::Gcs(GcsConfig {
                bucket: gcs.bucket.clone(),
                endpoint: set(&gcs.endpoint),
                allow_http: gcs.allow_http,
                prefix: set(&gcs.prefix),
                options: Vec::new(),
            })
        }
    }
}
