//! Request validation shared by every query RPC and the HTTP render APIs.
//!
//! Each function checks one field and fails with `invalid_argument` and a
//! message that names the field and the problem, so a client sees *why*
//! (Pyroscope's messages where it has one, e.g. the query-length limit).
//! Nothing here does I/O; checks that need the engine (is the profile type
//! known, does a `group_by` label exist) live in `select.rs`.

use std::collections::HashSet;
use std::time::Duration;

use kiln_model::ProfileType;
use kiln_model::selector::Selector;
use kiln_proto::querier::v1::ProfileFormat;
use kiln_proto::types::v1::{ExemplarType, StackTraceSelector, TimeSeriesAggregationType};
use kiln_query::Aggregation;

use crate::config::Limits;
use crate::error::ApiError;

/// The latest time a query can name: the largest millisecond count whose
/// nanoseconds still fit an `i64`, so the engine may convert freely. Also
/// "no end" for the label APIs' `end = 0`.
pub(crate) const MAX_TIME_MS: i64 = i64::MAX / 1_000_000;

/// A validated, inclusive range in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

fn invalid(message: String) -> ApiError {
    ApiError::invalid_argument(message)
}

/// The range of a query that reads profiles (flame graphs, series, diffs):
/// `end ≥ start`; `start` clamped to `now − max_query_lookback`; the
/// clamped range no longer than `max_query_length`. `Ok(None)` means the
/// whole range lies before the lookback window: answer empty (Pyroscope's
/// `ValidateRangeRequest`). Zero limits disable their check.
pub(crate) fn profile_range(
    limits: &Limits,
    now_ms: i64,
    start: i64,
    end: i64,
) -> Result<Option<TimeRange>, ApiError> {
    if end < start {
        return Err(invalid(format!(
            "invalid time range: end ({end}) is before start ({start}); both are milliseconds \
             since the Unix epoch"
        )));
    }
    let range = TimeRange {
        start_ms: start.clamp(0, MAX_TIME_MS),
        end_ms: end.clamp(0, MAX_TIME_MS),
    };
    let Some(range) = apply_lookback(limits, now_ms, range) else {
        return Ok(None);
    };
    let max = limits.max_query_length;
    let length_ms = range.end_ms - range.start_ms;
    if !max.is_zero() && u128::from(length_ms.unsigned_abs()) > max.as_millis() {
        return Err(invalid(format!(
            "the query time range exceeds the limit (query length: {}, limit: {}): narrow \
             the range or raise limits.max_query_length",
            humantime::format_duration(Duration::from_millis(length_ms.unsigned_abs())),
            humantime::format_duration(max),
        )));
    }
    Ok(Some(range))
}

/// The range of a label API (ProfileTypes, LabelNames, LabelValues,
/// Series): `0` means unbounded on that side ("all time"), `end ≥ start`
/// otherwise, and the lookback clamp. No length limit: these read block
/// metadata only, so a 7-day label picker stays cheap.
pub(crate) fn labels_range(
    limits: &Limits,
    now_ms: i64,
    start: i64,
    end: i64,
) -> Result<Option<TimeRange>, ApiError> {
    let end = if end == 0 { MAX_TIME_MS } else { end };
    if end < start {
        return Err(invalid(format!(
            "invalid time range: end ({end}) is before start ({start}); both are milliseconds \
             since the Unix epoch"
        )));
    }
    let range = TimeRange {
        start_ms: start.clamp(0, MAX_TIME_MS),
        end_ms: end.clamp(0, MAX_TIME_MS),
    };
    Ok(apply_lookback(limits, now_ms, range))
}

/// The first millisecond a tenant may query (`None`: no lookback limit).
pub(crate) fn lookback_start(limits: &Limits, now_ms: i64) -> Option<i64> {
    let lookback = limits.max_query_lookback;
    (!lookback.is_zero()).then(|| {
        let ms = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(ms)
    })
}

fn apply_lookback(limits: &Limits, now_ms: i64, range: TimeRange) -> Option<TimeRange> {
    let Some(min_start) = lookback_start(limits, now_ms) else {
        return Some(range);
    };
    (range.end_ms >= min_start).then(|| TimeRange {
        start_ms: range.start_ms.max(min_start),
        end_ms: range.end_ms,
    })
}

/// A profile-type ID (`name:type:unit:period_type:period_unit[:delta]`).
pub(crate) fn profile_type(field: &str, id: &str) -> Result<ProfileType, ApiError> {
    if id.trim().is_empty() {
        return Err(invalid(format!(
            "{field} is required: a profile type ID such as \
             process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        )));
    }
    ProfileType::parse(id.trim()).map_err(|e| invalid(format!("{field}: {e}")))
}

/// A PromQL label selector; an empty string means `{}` (everything).
pub(crate) fn selector(field: &str, text: &str) -> Result<Selector, ApiError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    Selector::parse(text).map_err(|e| invalid(format!("{field}: {e}")))
}

/// Every selector of a label API's `matchers` (the union is selected).
pub(crate) fn selectors(field: &str, texts: &[String]) -> Result<Vec<Selector>, ApiError> {
    texts.iter().map(|t| selector(field, t)).collect()
}

/// `max_nodes` of a flame-graph query (Pyroscope's `ValidateMaxNodes`):
/// absent or 0 → the tenant default; above the max, or negative while the
/// max is enforced → error. The result ≤ 0 means "no limit" to the encoders.
pub(crate) fn max_nodes(limits: &Limits, requested: Option<i64>) -> Result<i64, ApiError> {
    let n = requested.unwrap_or(0);
    if n == 0 {
        return Ok(i64::try_from(limits.max_flamegraph_nodes_default).unwrap_or(i64::MAX));
    }
    let max = i64::try_from(limits.max_flamegraph_nodes_max).unwrap_or(i64::MAX);
    if max > 0 {
        if n < 0 {
            return Err(invalid(format!(
                "max_nodes must be positive (max_nodes: {n}); 0 means the default of {}",
                limits.max_flamegraph_nodes_default
            )));
        }
        if n > max {
            return Err(invalid(format!(
                "max_nodes exceeds the limit (max_nodes: {n}, limit: {max}, \
                 limits.max_flamegraph_nodes_max)"
            )));
        }
    }
    Ok(n)
}

/// `SelectSeries.step`, in seconds: finite and at least one millisecond
/// (points fall on millisecond boundaries `start + k·step`).
pub(crate) fn step(step: f64) -> Result<f64, ApiError> {
    if !step.is_finite() || step <= 0.0 {
        return Err(invalid(format!(
            "step must be a positive number of seconds (step: {step})"
        )));
    }
    if step < 0.001 {
        return Err(invalid(format!(
            "step must be at least 0.001 seconds (step: {step})"
        )));
    }
    Ok(step)
}

/// `group_by` names: legacy-valid label names, deduplicated in order.
/// (Whether the labels exist is checked against the data in `select.rs`.)
pub(crate) fn group_by(names: &[String]) -> Result<Vec<String>, ApiError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for name in names {
        if !is_label_name(name) {
            return Err(invalid(format!(
                "invalid group_by label name {name:?}: want [a-zA-Z_][a-zA-Z0-9_]*"
            )));
        }
        if seen.insert(name.as_str()) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// A legacy (Prometheus 2) label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `SelectSeries.aggregation`: absent → SUM.
pub(crate) fn aggregation(value: Option<i32>) -> Result<Aggregation, ApiError> {
    match value.map(TimeSeriesAggregationType::try_from) {
        None | Some(Ok(TimeSeriesAggregationType::Sum)) => Ok(Aggregation::Sum),
        Some(Ok(TimeSeriesAggregationType::Average)) => Ok(Aggregation::Average),
        Some(Err(_)) => Err(invalid(format!(
            "unknown aggregation {}: want TIME_SERIES_AGGREGATION_TYPE_SUM (0) or \
             TIME_SERIES_AGGREGATION_TYPE_AVERAGE (1)",
            value.unwrap_or_default()
        ))),
    }
}

/// `exemplar_type` of `SelectSeries`.
pub(crate) fn exemplar_type(value: i32) -> Result<ExemplarType, ApiError> {
    ExemplarType::try_from(value).map_err(|_| {
        invalid(format!(
            "unknown exemplar_type {value}: want EXEMPLAR_TYPE_UNSPECIFIED, NONE, INDIVIDUAL or SPAN"
        ))
    })
}

/// `format` of `SelectMergeStacktraces` / `SelectMergeSpanProfile`.
pub(crate) fn format(value: i32) -> Result<ProfileFormat, ApiError> {
    ProfileFormat::try_from(value).map_err(|_| {
        invalid(format!(
            "unknown format {value}: want PROFILE_FORMAT_FLAMEGRAPH, TREE, DOT or PPROF"
        ))
    })
}

/// Span ids of `span_selector`: 16 hex characters each, read as the
/// ingest path reads the `span_id` sample label (a big-endian u64).
pub(crate) fn span_ids(field: &str, spans: &[String]) -> Result<Vec<u64>, ApiError> {
    spans
        .iter()
        .map(|s| {
            let s = s.trim();
            if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                u64::from_str_radix(s, 16).map_err(|e| invalid(format!("{field}: {e}")))
            } else {
                Err(invalid(format!(
                    "invalid span id {s:?} in {field}: want 16 hex characters"
                )))
            }
        })
        .collect()
}

/// `profile_id_selector`: UUIDs (`8-4-4-4-12` hex digits), lowercased as
/// the ingest path writes them.
pub(crate) fn profile_ids(field: &str, ids: &[String]) -> Result<Vec<String>, ApiError> {
    ids.iter()
        .map(|id| {
            let id = id.trim();
            if is_uuid(id) {
                Ok(id.to_ascii_lowercase())
            } else {
                Err(invalid(format!(
                    "invalid profile id {id:?} in {field}: want a UUID such as \
                     01890c4e-5c3a-7b2e-9f00-0123456789ab"
                )))
            }
        })
        .collect()
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The call-site prefix of a `stack_trace_selector` (root first). When
/// `go_pgo` is set the spec says `call_site` is ignored; Kiln does not
/// reshape stacks for PGO, so that selector keeps every stack.
pub(crate) fn call_site(selector: Option<&StackTraceSelector>) -> Vec<String> {
    match selector {
        Some(s) if s.go_pgo.is_none() => s.call_site.iter().map(|l| l.name.clone()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
