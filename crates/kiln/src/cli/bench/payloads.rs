//! The replayed payloads: real agent pprofs, decoded once, re-stamped with
//! the current time every second (so the server's ingestion window accepts
//! them on a run of any length) and packed into Push requests.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use kiln_proto::google::v1::Profile;
use kiln_proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use kiln_proto::types::v1::LabelPair;
use prost::Message;

/// One payload file and how it is labelled.
struct Source {
    /// `service_name` suffix: `bench-<name>`.
    name: &'static str,
    /// The profile's `__name__` (what its agent sends).
    metric: String,
    profile: Profile,
    /// Series one push of it creates (sample types × string label sets).
    series: usize,
}

/// A payload as it goes on the wire right now.
struct Encoded {
    raw_profile: Vec<u8>,
    decompressed_len: usize,
}

pub(crate) struct Payloads {
    sources: Vec<Source>,
    gzip: bool,
    current: RwLock<Arc<Vec<Encoded>>>,
}

const GO_CPU: &str = "go-cpu.pb.gz";
const GO_HEAP: &str = "go-heap.pb.gz";
const NODEJS: &str = "nodejs-0.6.4-ingest-wall-cpu.pprof.gz";
const PYTHON_PUSH: &str = "python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz";

impl Payloads {
    /// Loads the four payloads of `dir`; a missing or undecodable file is
    /// an error naming it.
    pub(crate) fn load(dir: &Path, gzip: bool) -> anyhow::Result<Self> {
        let read = |name: &str| -> anyhow::Result<Vec<u8>> {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            gunzip_if_gzip(&bytes).with_context(|| format!("decompressing {}", path.display()))
        };
        let pprof = |name: &str, bytes: &[u8]| -> anyhow::Result<Profile> {
            Profile::decode(bytes).with_context(|| format!("decoding the pprof of {name}"))
        };
        let mut sources = vec![
            Source::new("go_cpu", "process_cpu", pprof(GO_CPU, &read(GO_CPU)?)?),
            Source::new("go_heap", "memory", pprof(GO_HEAP, &read(GO_HEAP)?)?),
            Source::new("nodejs_wall", "wall", pprof(NODEJS, &read(NODEJS)?)?),
        ];
        let push = PushRequest::decode(read(PYTHON_PUSH)?.as_slice())
            .with_context(|| format!("decoding the PushRequest of {PYTHON_PUSH}"))?;
        let series = push
            .series
            .first()
            .context("the python PushRequest has no series")?;
        let sample = series
            .samples
            .first()
            .context("the python PushRequest has no sample")?;
        let metric = series
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map_or("process_cpu", |l| l.value.as_str());
        let raw = gunzip_if_gzip(&sample.raw_profile)?;
        sources.push(Source::new("python_cpu", metric, pprof(PYTHON_PUSH, &raw)?));
        let payloads = Self {
            sources,
            gzip,
            current: RwLock::new(Arc::new(Vec::new())),
        };
        payloads.refresh()?;
        Ok(payloads)
    }

    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// Series one round over every payload creates for one (client, pod).
    pub(crate) fn series_per_round(&self) -> usize {
        self.sources.iter().map(|s| s.series).sum()
    }

    /// Re-stamps every payload with the current time and re-encodes it.
    fn refresh(&self) -> anyhow::Result<()> {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as i64;
        let mut encoded = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let mut profile = source.profile.clone();
            profile.time_nanos = now_ns;
            let plain = profile.encode_to_vec();
            let decompressed_len = plain.len();
            let raw_profile = if self.gzip { gzip(&plain)? } else { plain };
            encoded.push(Encoded {
                raw_profile,
                decompressed_len,
            });
        }
        *self.current.write().expect("payload lock poisoned") = Arc::new(encoded);
        Ok(())
    }

    /// Re-stamps the payloads every second until aborted.
    pub(crate) fn spawn_refresher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(err) = self.refresh() {
                    eprintln!("warning: re-encoding payloads failed: {err:#}");
                }
            }
        })
    }

    /// The `round`-th request of client `client`: `batch` series cycling
    /// through the payloads, then through `pods` pod labels. Returns the
    /// encoded PushRequest, its profile count and decompressed pprof bytes.
    pub(crate) fn request(
        &self,
        client: usize,
        round: u64,
        batch: usize,
        pods: usize,
    ) -> (Bytes, usize, usize) {
        let current = self.current.read().expect("payload lock poisoned").clone();
        let n = self.sources.len() as u64;
        let mut bytes = 0;
        let mut series = Vec::with_capacity(batch);
        for j in 0..batch as u64 {
            let index = round * batch as u64 + j;
            let p = (index % n) as usize;
            let pod = (index / n) % pods as u64;
            let source = &self.sources[p];
            let encoded = &current[p];
            bytes += encoded.decompressed_len;
            series.push(RawProfileSeries {
                labels: vec![
                    label("__name__", &source.metric),
                    label("service_name", &format!("bench-{}", source.name)),
                    label("bench_client", &client.to_string()),
                    label("pod", &format!("pod-{pod}")),
                ],
                samples: vec![RawSample {
                    raw_profile: encoded.raw_profile.clone(),
                    id: String::new(),
                }],
                annotations: vec![],
            });
        }
        let body = PushRequest { series }.encode_to_vec();
        (Bytes::from(body), batch, bytes)
    }
}

impl Source {
    fn new(name: &'static str, metric: &str, profile: Profile) -> Self {
        let strings = &profile.string_table;
        let label_sets: HashSet<Vec<(i64, i64)>> = profile
            .sample
            .iter()
            .map(|s| {
                s.label
                    .iter()
                    .filter(|l| l.str != 0)
                    .filter(|l| {
                        let key = strings.get(l.key as usize).map_or("", String::as_str);
                        key != "span_id" && key != "profile_id" && !key.starts_with("__")
                    })
                    .map(|l| (l.key, l.str))
                    .collect()
            })
            .collect();
        let series = profile.sample_type.len() * label_sets.len().max(1);
        Self {
            name,
            metric: metric.to_string(),
            profile,
            series,
        }
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: name.into(),
        value: value.into(),
    }
}

fn gunzip_if_gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}
