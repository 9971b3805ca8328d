//! The metadata RPCs: ProfileTypes, LabelNames, LabelValues, Series,
//! GetProfileStats (and AnalyzeQuery, which answers `unimplemented`).
//!
//! Their `start`/`end` may be 0, meaning "all time" on that side (within
//! the lookback window); there is no length limit because the engine
//! answers them from block metadata. Each entry of `matchers` is its own
//! selector and the answer is the union (spec §2.7).

use axum::http::{HeaderMap, header};
use kiln_proto::querier::v1::{
    AnalyzeQueryRequest, AnalyzeQueryResponse, ProfileTypesRequest, ProfileTypesResponse,
    SeriesRequest, SeriesResponse,
};
use kiln_proto::types::v1::{
    GetProfileStatsRequest, GetProfileStatsResponse, LabelNamesRequest, LabelNamesResponse,
    LabelPair, LabelValuesRequest, LabelValuesResponse, Labels, ProfileType,
};
use kiln_query::LabelsQuery;

use super::validate;
use super::{Querier, query_error};
use crate::error::{ApiError, Code};

/// Whether the client sent `Accept: …;allow-utf8-labelnames=true`
/// (profilecli always does). Without it LabelNames keeps only legacy-valid
/// names, as Pyroscope does for older clients.
pub(crate) fn accepts_utf8_label_names(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("allow-utf8-labelnames=true"))
}

impl Querier {
    /// A label query, or `None` when the range lies before the lookback window.
    fn labels_query(
        &self,
        tenant: &str,
        matchers: &[String],
        start: i64,
        end: i64,
    ) -> Result<Option<LabelsQuery>, ApiError> {
        let selectors = validate::selectors("matchers", matchers)?;
        let range = validate::labels_range(self.limits(tenant), self.now_ms(), start, end)?;
        Ok(range.map(|r| LabelsQuery {
            tenant: tenant.to_string(),
            selectors,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
        }))
    }

    /// Every profile type with data in range, parsed into its five fields
    /// and sorted by ID.
    pub(crate) async fn profile_types(
        &self,
        tenant: &str,
        request: ProfileTypesRequest,
    ) -> Result<ProfileTypesResponse, ApiError> {
        let Some(range) = validate::labels_range(
            self.limits(tenant),
            self.now_ms(),
            request.start,
            request.end,
        )?
        else {
            return Ok(ProfileTypesResponse::default());
        };
        let mut types = self
            .engine
            .profile_types(tenant, range.start_ms, range.end_ms)
            .await
            .map_err(query_error)?;
        types.sort_by_key(|t| t.id());
        types.dedup();
        let profile_types = types
            .into_iter()
            .map(|t| ProfileType {
                id: t.id(),
                name: t.name,
                sample_type: t.sample_type,
                sample_unit: t.sample_unit,
                period_type: t.period_type,
                period_unit: t.period_unit,
            })
            .collect();
        Ok(ProfileTypesResponse { profile_types })
    }

    pub(crate) async fn label_names(
        &self,
        tenant: &str,
        allow_utf8: bool,
        request: LabelNamesRequest,
    ) -> Result<LabelNamesResponse, ApiError> {
        let Some(query) =
            self.labels_query(tenant, &request.matchers, request.start, request.end)?
        else {
            return Ok(LabelNamesResponse::default());
        };
        let mut names = self.engine.label_names(&query).await.map_err(query_error)?;
        if !allow_utf8 {
            names.retain(|n| validate::is_label_name(n));
        }
        names.sort();
        names.dedup();
        Ok(LabelNamesResponse { names })
    }

    /// Values of `name`; an empty `name` has no values (Pyroscope answers
    /// the same, and `/pyroscope/label-values` relied on it).
    pub(crate) async fn label_values(
        &self,
        tenant: &str,
        request: LabelValuesRequest,
    ) -> Result<LabelValuesResponse, ApiError> {
        let query = self.labels_query(tenant, &request.matchers, request.start, request.end)?;
        let (Some(query), false) = (query, request.name.is_empty()) else {
            return Ok(LabelValuesResponse::default());
        };
        let mut names = self
            .engine
            .label_values(&query, &request.name)
            .await
            .map_err(query_error)?;
        names.sort();
        names.dedup();
        Ok(LabelValuesResponse { names })
    }

    /// Distinct label sets of matching series, reduced to `label_names`
    /// when given; answered in `labels_set` (field 2).
    pub(crate) async fn series(
        &self,
        tenant: &str,
        request: SeriesRequest,
    ) -> Result<SeriesResponse, ApiError> {
        let Some(query) =
            self.labels_query(tenant, &request.matchers, request.start, request.end)?
        else {
            return Ok(SeriesResponse::default());
        };
        let mut sets = self
            .engine
            .series(&query, &request.label_names)
            .await
            .map_err(query_error)?;
        sets.sort();
        sets.dedup();
        let labels_set = sets
            .into_iter()
            .map(|set| Labels {
                labels: set
                    .iter()
                    .map(|l| LabelPair {
                        name: l.name.clone(),
                        value: l.value.clone(),
                    })
                    .collect(),
            })
            .collect();
        Ok(SeriesResponse { labels_set })
    }

    pub(crate) async fn get_profile_stats(
        &self,
        tenant: &str,
        _request: GetProfileStatsRequest,
    ) -> Result<GetProfileStatsResponse, ApiError> {
        let stats = self
            .engine
            .profile_stats(tenant)
            .await
            .map_err(query_error)?;
        Ok(GetProfileStatsResponse {
            data_ingested: stats.data_ingested,
            oldest_profile_time: stats.oldest_profile_ms,
            newest_profile_time: stats.newest_profile_ms,
        })
    }

    pub(crate) async fn analyze_query(
        &self,
        _tenant: &str,
        _request: AnalyzeQueryRequest,
    ) -> Result<AnalyzeQueryResponse, ApiError> {
        Err(ApiError::new(
            Code::Unimplemented,
            "AnalyzeQuery is not supported by Kiln yet",
        ))
    }
}
