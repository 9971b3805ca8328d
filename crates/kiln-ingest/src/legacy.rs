//! The legacy `POST /ingest` API (spec §5): query parameters plus a raw or
//! multipart body ─► normalised profiles.

mod attime;

use crate::error::IngestError;
use crate::push::{DecodedPush, new_profile_id};
use kiln_model::labels::names;
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, Labels, ModelError, ProfileType, pprof, text};
use std::collections::HashMap;

pub use attime::parse_attime;

/// The query parameters of one `/ingest` request.
#[derive(Debug, Clone, Default)]
pub struct LegacyParams {
    pub name: String,
    pub from: Option<String>,
    pub until: Option<String>,
    pub format: Option<String>,
    pub sample_rate: Option<String>,
    pub spy_name: Option<String>,
    /// The request's Content-Type (selects multipart pprof and trie/tree).
    pub content_type: Option<String>,
}

/// The body of one `/ingest` request, as the HTTP layer extracted it.
#[derive(Debug, Clone)]
pub enum LegacyBody {
    /// The whole body (already decoded from `Content-Encoding`).
    Raw(Vec<u8>),
    /// A `multipart/form-data` body's parts.
    Multipart {
        profile: Option<Vec<u8>>,
        sample_type_config: Option<Vec<u8>>,
        prev_profile: bool,
    },
}

/// The body formats `/ingest` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Folded,
    Lines,
    Pprof,
    Unsupported(&'static str),
}

fn format_of(params: &LegacyParams) -> Format {
    let content_type = params
        .content_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match params
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("pprof") => Format::Pprof,
        Some("lines") => Format::Lines,
        Some("jfr") => Format::Unsupported("jfr"),
        Some("speedscope") => Format::Unsupported("speedscope"),
        Some("trie") => Format::Unsupported("trie"),
        Some("tree") => Format::Unsupported("tree"),
        _ if content_type.starts_with("multipart/form-data") => Format::Pprof,
        _ if content_type.starts_with("binary/octet-stream+trie") => Format::Unsupported("trie"),
        _ if content_type.starts_with("binary/octet-stream+tree") => Format::Unsupported("tree"),
        _ => Format::Folded,
    }
}

/// Converts one `/ingest` request. CPU-heavy: run it off the I/O threads.
pub fn convert_legacy(
    params: &LegacyParams,
    body: LegacyBody,
    limits: &NormalizeLimits,
    now_ns: i64,
) -> Result<DecodedPush, IngestError> {
    let (app_name, raw_labels) = text::parse_legacy_name(&params.name)
        .map_err(|e| IngestError::InvalidArgument(format!("invalid name parameter: {e}")))?;
    let client_labels: Vec<Label> = raw_labels
        .into_iter()
        .filter(|l| !l.name.starts_with("__") || l.name == "__session_id__")
        .collect();
    let from_ns = parse_attime(params.from.as_deref(), now_ns)
        .map_err(|e| IngestError::InvalidArgument(format!("invalid from parameter: {e}")))?;
    let until_ns = parse_attime(params.until.as_deref(), now_ns)
        .map_err(|e| IngestError::InvalidArgument(format!("invalid until parameter: {e}")))?;
    let spy = params
        .spy_name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let context = Context {
        app_name,
        client_labels,
        from_ns,
        until_ns,
        spy,
        limits,
    };
    match format_of(params) {
        Format::Pprof => context.pprof(body),
        Format::Folded => context.text(params, body, "folded"),
        Format::Lines => context.text(params, body, "lines"),
        Format::Unsupported(format) => Err(IngestError::Unprocessable(format!(
            "format={format} is not supported by kiln; send pprof, folded or lines"
        ))),
    }
}

struct Context<'a> {
    app_name: String,
    client_labels: Vec<Label>,
    from_ns: i64,
    until_ns: i64,
    spy: String,
    limits: &'a NormalizeLimits,
}

impl Context<'_> {
    fn pprof(&self, body: LegacyBody) -> Result<DecodedPush, IngestError> {
        let (bytes, config) = match body {
            LegacyBody::Raw(bytes) => (bytes, None),
            LegacyBody::Multipart {
                prev_profile: true, ..
            } => {
                return Err(IngestError::InvalidArgument(
                    "unsupported client version: the prev_profile part (cumulative profiles) is not supported; please update pyroscope-go".into(),
                ));
            }
            LegacyBody::Multipart {
                profile,
                sample_type_config,
                ..
            } => {
                let profile = profile.ok_or_else(|| {
                    IngestError::InvalidArgument("multipart body has no profile part".into())
                })?;
                (profile, sample_type_config)
            }
        };
        let config = match config {
            Some(json) => parse_sample_type_config(&json)?,
            None => HashMap::new(),
        };
        let raw = pprof::decompress_if_gzip(&bytes, self.limits.max_decompressed_bytes)?;
        let mut profile = pprof::decode(&raw, self.limits)?;
        if profile.time_nanos <= 0 || profile.time_nanos < 365 * 24 * 3600 * 1_000_000_000 {
            profile.time_nanos = self.from_ns;
        }
        if profile.duration_nanos <= 0 {
            profile.duration_nanos = (self.until_ns - self.from_ns).max(0);
        }
        let sample_types: Vec<String> = profile
            .sample_type
            .iter()
            .map(|st| string_at(&profile.string_table, st.r#type))
            .collect();
        let mut labels = Labels::new(self.client_labels.iter().cloned());
        if labels.get(names::SERVICE_NAME).is_none() {
            labels.set(names::SERVICE_NAME, self.app_name.as_str());
        }
        labels.set(names::METRIC_NAME, metric_name(&sample_types, &config));
        labels.set(names::PYROSCOPE_SPY, self.spy.as_str());
        // Legacy uploads are already deltas (spec §5); Pyroscope marks them.
        labels.set(names::DELTA, "false");
        let profiles = pprof::normalise(&profile, &labels, &new_profile_id(), self.limits)?;
        Ok(DecodedPush {
            profiles,
            decompressed_bytes: raw.len(),
        })
    }

    fn text(
        &self,
        params: &LegacyParams,
        body: LegacyBody,
        format: &'static str,
    ) -> Result<DecodedPush, IngestError> {
        let bytes = match body {
            LegacyBody::Raw(bytes) => bytes,
            LegacyBody::Multipart { .. } => {
                return Err(IngestError::InvalidArgument(format!(
                    "format={format} expects a plain body, not multipart"
                )));
            }
        };
        if self
            .client_labels
            .iter()
            .any(|l| l.name == names::PROFILE_ID)
        {
            // Upstream quietly drops text profiles tagged with a profile id.
            return Ok(DecodedPush::default());
        }
        let raw = pprof::decompress_if_gzip(&bytes, self.limits.max_decompressed_bytes)?;
        let body = std::str::from_utf8(&raw).map_err(|e| {
            IngestError::InvalidArgument(format!("{format} body is not valid UTF-8: {e}"))
        })?;
        let mut stacks = match format {
            "lines" => text::parse_lines(body),
            _ => text::parse_folded(body)?,
        };
        let (service, mut profile_type, scale) =
            text::legacy_profile_type(&self.app_name).map_err(|e| match e {
                ModelError::UnknownProfileType(_) => IngestError::Unprocessable(format!(
                    "unknown profile type in name {:?}: the suffix after the last '.' must be one of cpu, wall, inuse_space, alloc_space, …",
                    self.app_name
                )),
                other => other.into(),
            })?;
        let sample_rate = parse_sample_rate(params.sample_rate.as_deref())?;
        let mut period = 0;
        if scale {
            if sample_rate == 0 {
                profile_type = ProfileType {
                    name: profile_type.name,
                    sample_type: "samples".into(),
                    sample_unit: "count".into(),
                    ..Default::default()
                };
            } else {
                period = 1_000_000_000 / sample_rate;
                for (_, value) in &mut stacks {
                    *value = value.saturating_mul(period);
                }
            }
        }
        let mut labels = Labels::new(self.client_labels.iter().cloned());
        if labels.get(names::SERVICE_NAME).is_some() {
            labels.set("app_name", service);
        } else {
            labels.set(names::SERVICE_NAME, service);
        }
        labels.set(names::PYROSCOPE_SPY, self.spy.as_str());
        labels.set(names::DELTA, "false");
        let (labels, profile_type) =
            pprof::build_series_labels(&labels, &profile_type, self.limits)?;
        let profile = text::profile_from_stacks(
            &stacks,
            &labels,
            &profile_type,
            self.from_ns,
            (self.until_ns - self.from_ns).max(0),
            period,
            &new_profile_id(),
            self.limits,
        );
        let profiles = if profile.samples.is_empty() {
            vec![]
        } else {
            vec![profile]
        };
        Ok(DecodedPush {
            profiles,
            decompressed_bytes: raw.len(),
        })
    }
}

fn string_at(table: &[String], index: i64) -> String {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .cloned()
        .unwrap_or_default()
}

fn parse_sample_rate(value: Option<&str>) -> Result<i64, IngestError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(100),
        Some(v) => v.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| {
            IngestError::InvalidArgument(format!(
                "invalid sampleRate {v:?}: want a non-negative integer"
            ))
        }),
    }
}

/// `sample_type_config`: sample-type name → display name (other keys are
/// accepted and not needed by Kiln).
fn parse_sample_type_config(json: &[u8]) -> Result<HashMap<String, String>, IngestError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "display-name", default)]
        display_name: Option<String>,
    }
    let entries: HashMap<String, Entry> = serde_json::from_slice(json).map_err(|e| {
        IngestError::InvalidArgument(format!("invalid sample_type_config part: {e}"))
    })?;
    Ok(entries
        .into_iter()
        .filter_map(|(k, v)| v.display_name.filter(|d| !d.is_empty()).map(|d| (k, d)))
        .collect())
}

/// Built-in display names for sample types when the client sends no config.
fn default_display_name(sample_type: &str) -> &str {
    match sample_type {
        "samples" => "cpu",
        "goroutine" => "goroutines",
        "contentions" => "mutex_count",
        "delay" => "mutex_duration",
        other => other,
    }
}

/// The profile name of a legacy pprof upload, from its sample types'
/// display names (spec §5 heuristic).
fn metric_name(sample_types: &[String], config: &HashMap<String, String>) -> String {
    let display: Vec<&str> = sample_types
        .iter()
        .map(|t| {
            config
                .get(t)
                .map(String::as_str)
                .unwrap_or_else(|| default_display_name(t))
        })
        .collect();
    let any = |f: &dyn Fn(&str) -> bool| display.iter().any(|d| f(d));
    if any(&|d| d == "wall") {
        "wall"
    } else if any(&|d| d.contains("cpu")) {
        "process_cpu"
    } else if any(&|d| {
        d.contains("alloc_") || d.contains("inuse_") || d == "space" || d == "objects"
    }) {
        "memory"
    } else if any(&|d| d.contains("mutex_")) {
        "mutex"
    } else if any(&|d| d.contains("block_")) {
        "block"
    } else if any(&|d| d.contains("goroutine")) {
        // pyroscope-go ≥ 1.5 names its goroutine profile "goroutine" (older
        // agents and the defaults said "goroutines"); both are `goroutines`.
        "goroutines"
    } else {
        "unknown"
    }
    .to_string()
}

#[cfg(test)]
mod tests;
