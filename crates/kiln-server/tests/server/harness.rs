//! A server on a random port plus small client helpers.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use kiln_proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use kiln_proto::types::v1::LabelPair;
use kiln_server::{ApiError, KilnConfig, PushSink};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fake_engine::FakeEngine;

/// Records every push; can be told to fail or to take its time.
#[derive(Default)]
pub struct RecordingSink {
    pushes: Mutex<Vec<(String, PushRequest)>>,
    exports: Mutex<Vec<(String, ExportProfilesServiceRequest)>>,
    fail: Mutex<Option<ApiError>>,
    delay: Mutex<Duration>,
}

impl RecordingSink {
    pub fn pushes(&self) -> Vec<(String, PushRequest)> {
        self.pushes.lock().unwrap().clone()
    }

    pub fn exports(&self) -> Vec<(String, ExportProfilesServiceRequest)> {
        self.exports.lock().unwrap().clone()
    }

    pub fn fail_with(&self, err: ApiError) {
        *self.fail.lock().unwrap() = Some(err);
    }

    pub fn delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }
}

#[async_trait]
impl PushSink for RecordingSink {
    async fn push(&self, tenant: &str, request: PushRequest) -> Result<(), ApiError> {
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if let Some(err) = self.fail.lock().unwrap().clone() {
            return Err(err);
        }
        self.pushes
            .lock()
            .unwrap()
            .push((tenant.to_string(), request));
        Ok(())
    }

    async fn ingest_legacy(
        &self,
        _tenant: &str,
        _params: kiln_ingest::legacy::LegacyParams,
        _body: kiln_ingest::legacy::LegacyBody,
    ) -> Result<(), kiln_ingest::IngestError> {
        Err(kiln_ingest::IngestError::Unprocessable(
            "recording sink takes no /ingest".into(),
        ))
    }

    /// Records OTLP exports; fails with the configured error (its code
    /// mapped back to the write path's classification).
    async fn export_otlp(
        &self,
        tenant: &str,
        request: ExportProfilesServiceRequest,
    ) -> Result<(), kiln_ingest::IngestError> {
        if let Some(err) = self.fail.lock().unwrap().clone() {
            return Err(kiln_ingest::IngestError::InvalidArgument(err.to_string()));
        }
        self.exports
            .lock()
            .unwrap()
            .push((tenant.to_string(), request));
        Ok(())
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub sink: Arc<RecordingSink>,
    /// Answers every query RPC and render request.
    pub engine: Arc<FakeEngine>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_config(KilnConfig::default()).await
    }

    pub async fn multitenant() -> Self {
        let mut config = KilnConfig::default();
        config.auth.multitenancy_enabled = true;
        Self::with_config(config).await
    }

    pub async fn with_config(config: KilnConfig) -> Self {
        Self::with_engine(config, Arc::new(FakeEngine::default())).await
    }

    /// A server whose queries are answered by `engine`.
    pub async fn with_engine(config: KilnConfig, engine: Arc<FakeEngine>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = Arc::new(RecordingSink::default());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kiln_server::serve(
            Arc::new(config),
            listener,
            sink.clone(),
            engine.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            addr,
            sink,
            engine,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.begin_shutdown();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

/// A body of several DATA chunks with no known length: HTTP/1.1 sends it
/// with `Transfer-Encoding: chunked` and no Content-Length.
pub fn chunked(data: &[u8], pieces: usize) -> TestBody {
    let size = data.len().div_ceil(pieces).max(1);
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(size)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(futures::stream::iter(frames)).boxed()
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// Sends over HTTP/1.1, or over h2c with prior knowledge.
pub async fn send(request: Request<TestBody>, http2: bool) -> Reply {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(http2);
    let client: Client<_, TestBody> = builder.build_http();
    let response = client.request(request).await.expect("request succeeds");
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await.expect("body");
    if http2 {
        assert_eq!(version, hyper::Version::HTTP_2);
    } else {
        assert_eq!(version, hyper::Version::HTTP_11);
    }
    Reply {
        status,
        headers,
        trailers: collected.trailers().cloned(),
        body: collected.to_bytes(),
    }
}

/// POST with the given headers over HTTP/1.1.
pub async fn post(url: &str, headers: &[(&str, &str)], body: TestBody) -> Reply {
    send(request(url, headers, body), false).await
}

pub fn request(url: &str, headers: &[(&str, &str)], body: TestBody) -> Request<TestBody> {
    let mut builder = Request::post(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

pub async fn get(url: &str) -> Reply {
    let request = Request::get(url).body(full(Bytes::new())).unwrap();
    send(request, false).await
}

/// A push with two series; `raw_profile` holds arbitrary bytes (the server
/// layer does not look inside).
pub fn sample_push() -> PushRequest {
    let series = |service: &str, raw: &[u8]| RawProfileSeries {
        labels: vec![
            LabelPair {
                name: "__name__".into(),
                value: "process_cpu".into(),
            },
            LabelPair {
                name: "service_name".into(),
                value: service.into(),
            },
        ],
        samples: vec![RawSample {
            raw_profile: raw.to_vec(),
            id: "4a5b6c".into(),
        }],
        annotations: vec![],
    };
    PushRequest {
        series: vec![
            series("app-a", &[0x1f, 0x8b, 8, 0, 1, 2]),
            series("app-b", &[]),
        ],
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
