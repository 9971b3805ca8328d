//! The object-store behaviour Kiln relies on, checked on every backend it
//! supports: the local filesystem, memory, S3 (moto), Azure Blob (Azurite)
//! and GCS (gcp-storage-emulator). The emulators are started by the tests
//! (`kiln_store::emulators`); a missing one fails with how to install it.
//!
//! Plus the errors an operator sees for a bad storage configuration.

use futures::TryStreamExt;
use kiln_store::emulators::{
    Emulator, EmulatorKind, TestBackend as Backend, TestStore, unique_prefix,
};
use kiln_store::{S3Config, StoreConfig, StoreError, check_access, open_store};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// A fresh, empty store on `backend` (a new prefix on a shared emulator).
async fn open(backend: Backend) -> TestStore {
    TestStore::open(backend, "store").await
}

async fn get(store: &dyn ObjectStore, path: &Path) -> Vec<u8> {
    store
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("get {path}: {e}"))
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

async fn listed(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    names.sort();
    names
}

/// Put, get (whole and ranges), head, list, list with delimiter, copy, delete.
async fn round_trip(backend: Backend) {
    let t = open(backend).await;
    let store = &*t.store;
    let a = Path::from("tenants/a/blocks/01/samples.parquet");
    let b = Path::from("tenants/a/blocks/01/meta.json");
    let c = Path::from("tenants/b/blocks/02/meta.json");
    store
        .put(&a, PutPayload::from_static(b"0123456789"))
        .await
        .expect("put a");
    store
        .put(&b, PutPayload::from_static(b"{}"))
        .await
        .expect("put b");
    store
        .put(&c, PutPayload::from_static(b"{\"c\":1}"))
        .await
        .expect("put c");

    assert_eq!(get(store, &a).await, b"0123456789");
    let ranges = store.get_ranges(&a, &[0..2, 5..10]).await.expect("ranges");
    assert_eq!(ranges[0].as_ref(), b"01");
    assert_eq!(ranges[1].as_ref(), b"56789");
    assert_eq!(store.head(&a).await.expect("head").size, 10);

    assert_eq!(
        listed(store, "tenants/a").await,
        [b.to_string(), a.to_string()],
        "{:?}",
        t.config
    );
    assert_eq!(listed(store, "tenants").await.len(), 3);
    let top = store
        .list_with_delimiter(Some(&Path::from("tenants")))
        .await
        .expect("list_with_delimiter");
    let mut folders: Vec<String> = top.common_prefixes.iter().map(|p| p.to_string()).collect();
    folders.sort();
    assert_eq!(folders, ["tenants/a", "tenants/b"]);

    // Overwrite is the default put mode.
    store
        .put(&b, PutPayload::from_static(b"{\"v\":2}"))
        .await
        .expect("overwrite");
    assert_eq!(get(store, &b).await, b"{\"v\":2}");

    let copy = Path::from("quarantine/meta.json");
    store.copy(&c, &copy).await.expect("copy");
    assert_eq!(get(store, &copy).await, b"{\"c\":1}");

    for path in [&a, &b, &c, &copy] {
        store.delete(path).await.expect("delete");
    }
    assert!(listed(store, "").await.is_empty());
    let missing = store.get(&a).await;
    assert!(
        matches!(missing, Err(object_store::Error::NotFound { .. })),
        "{missing:?}"
    );
}

/// The metastore's log relies on create-if-absent: a second create of the
/// same path fails with `AlreadyExists` and leaves the first.
async fn create_if_absent(backend: Backend) {
    let t = open(backend).await;
    let path = Path::from("metastore/log/00000000000000000001.json");
    let create = || PutOptions::from(PutMode::Create);
    t.store
        .put_opts(&path, PutPayload::from_static(b"first"), create())
        .await
        .expect("first create");
    let second = t
        .store
        .put_opts(&path, PutPayload::from_static(b"second"), create())
        .await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{backend:?}: second create must fail with AlreadyExists, got {second:?}"
    );
    assert_eq!(get(&*t.store, &path).await, b"first");
}

/// Blocks written by the compactor go through multipart uploads.
async fn multipart_upload(backend: Backend) {
    let t = open(backend).await;
    let path = Path::from("tenants/a/blocks/03/samples.parquet");
    let part = vec![7u8; 5 * 1024 * 1024]; // S3's minimum part size
    let mut upload = t.store.put_multipart(&path).await.expect("start multipart");
    upload
        .put_part(PutPayload::from(part.clone()))
        .await
        .expect("part 1");
    upload
        .put_part(PutPayload::from_static(b"tail"))
        .await
        .expect("part 2");
    upload.complete().await.expect("complete");
    let got = get(&*t.store, &path).await;
    assert_eq!(got.len(), part.len() + 4);
    assert_eq!(&got[got.len() - 4..], b"tail");
}

/// Two stores on one bucket with different prefixes never see each other.
async fn prefixes_isolate(backend: Backend) {
    let Backend::Emulated(kind) = backend else {
        return; // Prefixes are a cloud-store setting.
    };
    let emulator = tokio::task::spawn_blocking(move || Emulator::shared(kind))
        .await
        .expect("emulator");
    let one_prefix = unique_prefix("one");
    let one = open_store(&emulator.store_config(&one_prefix)).expect("open one");
    let two = open_store(&emulator.store_config(&unique_prefix("two"))).expect("open two");
    let path = Path::from("metastore/snapshots/x.json");
    one.put(&path, PutPayload::from_static(b"1"))
        .await
        .expect("put");
    assert!(listed(&*two, "").await.is_empty());
    assert!(two.head(&path).await.is_err());
    assert_eq!(listed(&*one, "").await, [path.to_string()]);

    // The bucket itself holds the object under the prefix.
    let whole = open_store(&emulator.store_config("")).expect("open whole bucket");
    assert_eq!(
        get(&*whole, &Path::from(format!("{one_prefix}/{path}"))).await,
        b"1"
    );
}

macro_rules! backend_tests {
    ($($module:ident => $backend:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[tokio::test]
            async fn round_trip_list_copy_delete() {
                round_trip($backend).await;
            }
            #[tokio::test]
            async fn create_if_absent_puts() {
                create_if_absent($backend).await;
            }
            #[tokio::test]
            async fn multipart_uploads() {
                multipart_upload($backend).await;
            }
            #[tokio::test]
            async fn prefixes_isolate_stores() {
                prefixes_isolate($backend).await;
            }
        }
    )*};
}

backend_tests! {
    filesystem => Backend::Filesystem,
    memory => Backend::Memory,
    s3 => Backend::Emulated(EmulatorKind::S3),
    azure => Backend::Emulated(EmulatorKind::Azure),
}

/// EXPECTED TO DIFFER: gcp-storage-emulator cannot run the suite above.
/// object_store's GCS client speaks GCS's XML API (as real GCS serves it);
/// the emulator implements the JSON API plus only GET and PUT of single
/// objects on the XML API, answers that PUT without the `ETag` header the
/// client requires, returns 501 for XML listing, and ignores
/// `x-goog-if-generation-match`. (fake-gcs-server, tried too, rejects
/// every XML write with 400; docs/operations.md has both emulators'
/// results operation by operation.) This test pins down exactly that, looking
/// past the client through the emulator's JSON API, so it fails (and this
/// module should become a `backend_tests!` entry) when the emulator grows
/// the missing parts. It still proves that Kiln's GCS settings (bucket,
/// endpoint, prefix, `allow_http`, credentials from the environment)
/// produce requests that reach the right bucket and object.
mod gcs {
    use super::*;

    fn stored(emulator: &Emulator, object: &str) -> (u16, String) {
        let object = object.replace('/', "%2F");
        emulator
            .http_get(&format!(
                "/storage/v1/b/{}/o/{object}?alt=media",
                kiln_store::emulators::BUCKET
            ))
            .expect("JSON API get")
    }

    #[tokio::test]
    async fn emulator_serves_only_part_of_the_xml_api() {
        let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::Gcs))
            .await
            .expect("starting the emulator");
        let prefix = unique_prefix("gcs");
        let config = emulator.store_config(&prefix);
        let store = open_store(&config).expect("GCS settings build a client");
        let path = Path::from("metastore/log/00000000000000000001.json");
        let object = format!("{prefix}/{path}");
        let create = || PutOptions::from(PutMode::Create);

        let put = store
            .put_opts(&path, PutPayload::from_static(b"first"), create())
            .await;
        assert!(format!("{put:?}").contains("MissingEtag"), "{put:?}");
        assert_eq!(stored(emulator, &object), (200, "first".to_owned()));

        // The precondition is ignored: a second create overwrites.
        let again = store
            .put_opts(&path, PutPayload::from_static(b"second"), create())
            .await;
        assert!(format!("{again:?}").contains("MissingEtag"), "{again:?}");
        assert_eq!(stored(emulator, &object), (200, "second".to_owned()));

        // XML listing (ListObjectsV2) is not implemented.
        let listed = check_access(&*store, &config).await;
        let text = format!("{listed:?}");
        assert!(
            text.contains("list-type=2") && text.contains("501"),
            "{text}"
        );
    }
}

fn s3(bucket: &str) -> S3Config {
    S3Config {
        bucket: bucket.to_owned(),
        endpoint: None,
        region: None,
        allow_http: false,
        path_style: true,
        prefix: None,
        options: Vec::new(),
    }
}

#[test]
fn bad_settings_name_the_setting() {
    let err = |config: StoreConfig| match open_store(&config) {
        Ok(_) => panic!("{config:?} was accepted"),
        Err(e) => e,
    };

    let e = err(StoreConfig::S3(s3("")));
    assert!(
        matches!(&e, StoreError::Config { backend: "s3", setting, .. } if setting == "bucket"),
        "{e}"
    );
    assert!(e.to_string().contains("setting bucket: is required"), "{e}");

    let mut plain_http = s3("b");
    plain_http.endpoint = Some("http://127.0.0.1:9000".into());
    let e = err(StoreConfig::S3(plain_http.clone()));
    assert!(e.to_string().contains("endpoint"), "{e}");
    assert!(e.to_string().contains("allow_http"), "{e}");
    plain_http.allow_http = true;
    open_store(&StoreConfig::S3(plain_http)).expect("http with allow_http");

    let mut no_scheme = s3("b");
    no_scheme.endpoint = Some("127.0.0.1:9000".into());
    assert!(
        err(StoreConfig::S3(no_scheme))
            .to_string()
            .contains("not an http")
    );

    let mut bad_option = s3("b");
    bad_option.options = vec![("aws_secret_key_typo".into(), "x".into())];
    let e = err(StoreConfig::S3(bad_option));
    assert!(e.to_string().contains("aws_secret_key_typo"), "{e}");

    let mut bad_prefix = s3("b");
    bad_prefix.prefix = Some("a//b".into());
    let e = err(StoreConfig::S3(bad_prefix));
    assert!(e.to_string().contains("prefix"), "{e}");
}

#[tokio::test]
async fn missing_bucket_fails_the_access_check() {
    let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::S3))
        .await
        .expect("emulator");
    let StoreConfig::S3(mut config) = emulator.store_config("p") else {
        unreachable!()
    };
    config.bucket = "no-such-bucket".into();
    let config = StoreConfig::S3(config);
    let store = open_store(&config).expect("building does not contact the store");
    let e = check_access(&*store, &config).await.expect_err("no bucket");
    let text = e.to_string();
    assert!(text.contains("s3://no-such-bucket/p"), "{text}");
    assert!(text.contains(&emulator.url()), "{text}");
}
