//! The HTTP render APIs of spec §7, for the old Pyroscope UI, plugins and
//! the Grafana Profiles Drilldown app:
//!
//! ```text
//!  GET /pyroscope/render?query=<type>{…}&from&until[&maxNodes][&groupBy…][&aggregation]
//!      ─► SelectMergeStacktraces ∥ SelectSeries (step ≈ range/1500, ≥ 15 s)
//!      ─► flamebearer JSON { version, flamebearer, metadata, timeline, groups, heatmap }
//!  GET /pyroscope/render-diff?leftQuery&leftFrom&leftUntil&rightQuery&…  ─► Diff ─► "double"
//!  GET /pyroscope/label-values?label=__name__  ─► ["<profile type ID>", …]
//! ```
//!
//! They call the same [`Querier`] handlers as the RPCs, so validation,
//! limits and tenancy are identical; errors are JSON `{code, message}` with
//! the Connect code's HTTP status.
//!
//! Departures from Pyroscope 1.21, all towards giving the right answer:
//! * with `groupBy`, the main timeline is still the total (Pyroscope leaves it
//!   empty when there is more than one group);
//! * `label-values` for a label other than `__name__` returns that label's
//!   real values (Pyroscope returns an empty list), and `[]` rather than
//!   `null` when there are none;
//! * a malformed `maxNodes` or `aggregation` is a 400 instead of being ignored.

mod flamebearer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kiln_ingest::legacy::parse_attime;
use kiln_model::ProfileType;
use kiln_model::labels::names;
use kiln_model::selector::{MatchOp, Selector};
use kiln_proto::querier::v1::{
    DiffRequest, ProfileFormat, ProfileTypesRequest, SelectMergeStacktracesRequest,
    SelectSeriesRequest,
};
use kiln_proto::types::v1::{LabelValuesRequest, TimeSeriesAggregationType};
use serde::Serialize;

use super::{Querier, off_io, validate};
use crate::error::{ApiError, Code};
use crate::{metrics, tenant};

use flamebearer::FlamebearerProfile;

/// Query parameters in order, repeated names kept (`groupBy` may repeat).
struct Params(Vec<(String, String)>);

impl Params {
    /// The first non-empty value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Mounts one GET route answered by `$handler(&querier, &tenant, &params)`.
macro_rules! route {
    ($router:expr, $querier:expr, $path:literal, $handler:ident) => {{
        let querier = $querier.clone();
        $router.route(
            $path,
            get(
                move |headers: HeaderMap, Query(params): Query<Vec<(String, String)>>| {
                    let querier = querier.clone();
                    async move {
                        let started = Instant::now();
                        let result = match tenant::resolve(
                            &headers,
                            querier.config.auth.multitenancy_enabled,
                        ) {
                            Ok(tenant) => $handler(&querier, &tenant, &Params(params)).await,
                            Err(err) => Err(err),
                        };
                        respond($path, started, result).await
                    }
                },
            ),
        )
    }};
}

/// Mounts `/pyroscope/render`, `/pyroscope/render-diff` and
/// `/pyroscope/label-values`.
pub(crate) fn routes(router: Router, querier: Arc<Querier>) -> Router {
    let router = route!(router, querier, "/pyroscope/render", render);
    let router = route!(router, querier, "/pyroscope/render-diff", render_diff);
    route!(router, querier, "/pyroscope/label-values", label_values)
}

/// 200 with the JSON body, or the error's status with `{code, message}`.
async fn respond<T: Serialize + Send + 'static>(
    path: &'static str,
    started: Instant,
    result: Result<T, ApiError>,
) -> Response {
    let encoded = match result {
        Ok(value) => off_io(move || serde_json::to_vec(&value))
            .await
            .and_then(|r| r.map_err(|e| ApiError::Encode(e.to_string()))),
        Err(err) => Err(err),
    };
    let (status, body) = match encoded {
        Ok(body) => (StatusCode::OK, body),
        Err(err) => {
            let body =
                serde_json::json!({ "code": err.code().as_str(), "message": err.to_string() });
            (err.http_status(), body.to_string().into_bytes())
        }
    };
    metrics::record_http(path, status.as_u16(), started.elapsed());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn invalid(message: String) -> ApiError {
    ApiError::invalid_argument(message)
}

/// Splits `<profile type ID>{matchers}` into the type and the remaining
/// selector (written back as text, which `Selector::parse` reads equal).
fn split_query(field: &str, query: Option<&str>) -> Result<(ProfileType, String), ApiError> {
    const EXAMPLE: &str = r#"process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="app"}"#;
    let query = query.ok_or_else(|| {
        invalid(format!(
            "the {field} parameter is required: a profile type ID with matchers, e.g. {EXAMPLE}"
        ))
    })?;
    let selector = validate::selector(field, query)?;
    let mut profile_type = None;
    let mut rest = Vec::new();
    for m in selector.matchers() {
        if profile_type.is_none() && m.name() == names::PROFILE_TYPE && m.op() == MatchOp::Equal {
            profile_type = Some(m.value().to_string());
        } else {
            rest.push(m.clone());
        }
    }
    let id = profile_type.ok_or_else(|| {
        invalid(format!(
            "{field} must start with a profile type ID, e.g. {EXAMPLE}"
        ))
    })?;
    let profile_type = validate::profile_type(field, &id)?;
    Ok((profile_type, Selector::new(rest).to_string()))
}

/// An attime parameter (`now-1h`, unix s/ms/µs/ns, YYYYMMDD) in milliseconds.
fn attime(field: &str, value: &str, now_ns: i64) -> Result<i64, ApiError> {
    parse_attime(Some(value), now_ns)
        .map(|ns| ns.div_euclid(1_000_000))
        .map_err(|e| invalid(format!("{field}: {e}")))
}

/// `maxNodes` (or `max-nodes`; `maxNodes` wins, as in Pyroscope); 0 or
/// absent leaves the tenant default.
fn max_nodes(params: &Params) -> Result<Option<i64>, ApiError> {
    let mut n = None;
    for name in ["max-nodes", "maxNodes"] {
        if let Some(value) = params.get(name) {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid(format!("{name} must be an integer (got {value:?})")))?;
            if v != 0 {
                n = Some(v);
            }
        }
    }
    Ok(n)
}

async fn render(
    querier: &Querier,
    tenant: &str,
    params: &Params,
) -> Result<FlamebearerProfile, ApiError> {
    let (profile_type, label_selector) = split_query("query", params.get("query"))?;
    let now_ns = querier.clock.now_ns();
    let start = attime("from", params.get("from").unwrap_or("now-1h"), now_ns)?;
    let end = attime("until", params.get("until").unwrap_or("now"), now_ns)?;
    let max_nodes = max_nodes(params)?;
    match params.get("format").unwrap_or("json") {
        "json" => {}
        "dot" => {
            return Err(ApiError::new(
                Code::Unimplemented,
                "format=dot is not supported by Kiln: use format=json",
            ));
        }
        other => {
            return Err(invalid(format!(
                "unknown format {other:?}: want json or dot"
            )));
        }
    }
    let aggregation = match params.get("aggregation").unwrap_or("sum") {
        "sum" => TimeSeriesAggregationType::Sum,
        "avg" => TimeSeriesAggregationType::Average,
        other => {
            return Err(invalid(format!(
                "unknown aggregation {other:?}: want sum or avg"
            )));
        }
    };
    let group_by = params.all("groupBy");
    let step = flamebearer::step_seconds(start, end);

    let merge = SelectMergeStacktracesRequest {
        profile_type_id: profile_type.id(),
        label_selector: label_selector.clone(),
        start,
        end,
        max_nodes,
        format: ProfileFormat::Flamegraph as i32,
        ..Default::default()
    };
    let series = |group_by: Vec<String>| SelectSeriesRequest {
        profile_type_id: profile_type.id(),
        label_selector: label_selector.clone(),
        start,
        end,
        group_by,
        step: step as f64,
        aggregation: Some(aggregation as i32),
        ..Default::default()
    };
    let grouped = async {
        match group_by.is_empty() {
            true => Ok(None),
            false => querier
                .select_series(tenant, series(group_by.clone()))
                .await
                .map(Some),
        }
    };
    let (merged, total, grouped) = futures::try_join!(
        querier.select_merge_stacktraces(tenant, merge),
        querier.select_series(tenant, series(Vec::new())),
        grouped,
    )?;

    // Every returned series counts towards the total timeline (the engine
    // answers one when there is no group_by; summing keeps it right if not).
    let points: Vec<_> = total.series.into_iter().flat_map(|s| s.points).collect();
    let timeline = flamebearer::timeline(&points, start, end, step);
    let groups = grouped.map(|response| {
        // Only the first groupBy label names a group, as in Pyroscope.
        let mut by_key: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for s in response.series {
            let key = s
                .labels
                .iter()
                .find(|l| l.name == group_by[0])
                .map_or_else(|| "*".to_string(), |l| l.value.clone());
            by_key.entry(key).or_default().extend(s.points);
        }
        by_key
            .into_iter()
            .map(|(key, points)| (key, flamebearer::timeline(&points, start, end, step)))
            .collect()
    });
    Ok(flamebearer::single(
        merged.flamegraph.unwrap_or_default(),
        &profile_type,
        timeline,
        groups,
    ))
}

async fn render_diff(
    querier: &Querier,
    tenant: &str,
    params: &Params,
) -> Result<FlamebearerProfile, ApiError> {
    let (left_type, left_selector) = split_query("leftQuery", params.get("leftQuery"))?;
    let (right_type, right_selector) = split_query("rightQuery", params.get("rightQuery"))?;
    if left_type != right_type {
        return Err(invalid(format!(
            "profile types must match: leftQuery selects {left_type}, rightQuery selects \
             {right_type}"
        )));
    }
    let now_ns = querier.clock.now_ns();
    let max_nodes = max_nodes(params)?;
    let side = |selector: String, from: &str, until: &str| -> Result<_, ApiError> {
        Ok(SelectMergeStacktracesRequest {
            profile_type_id: left_type.id(),
            label_selector: selector,
            start: attime(from, params.get(from).unwrap_or("now-1h"), now_ns)?,
            end: attime(until, params.get(until).unwrap_or("now"), now_ns)?,
            max_nodes,
            ..Default::default()
        })
    };
    let request = DiffRequest {
        left: Some(side(left_selector, "leftFrom", "leftUntil")?),
        right: Some(side(right_selector, "rightFrom", "rightUntil")?),
    };
    let response = querier.diff(tenant, request).await?;
    Ok(flamebearer::double(
        response.flamegraph.unwrap_or_default(),
        &left_type,
    ))
}

/// `label=__name__`: the profile-type IDs; any other label: its values.
/// Both over all time (within the lookback window).
async fn label_values(
    querier: &Querier,
    tenant: &str,
    params: &Params,
) -> Result<Vec<String>, ApiError> {
    let label = params
        .get("label")
        .ok_or_else(|| invalid("the label parameter is required, e.g. label=__name__".into()))?;
    if label == names::METRIC_NAME {
        let response = querier
            .profile_types(tenant, ProfileTypesRequest::default())
            .await?;
        return Ok(response.profile_types.into_iter().map(|t| t.id).collect());
    }
    let request = LabelValuesRequest {
        name: label.to_string(),
        ..Default::default()
    };
    Ok(querier.label_values(tenant, request).await?.names)
}
