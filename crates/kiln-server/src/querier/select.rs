//! The RPCs that read profiles: SelectMergeStacktraces, SelectMergeProfile,
//! SelectMergeSpanProfile, SelectSeries, Diff (and SelectHeatmap, which
//! answers `unimplemented`).
//!
//! Each one validates its selection into a [`ProfileQuery`] (see
//! [`Querier::profile_query`]), asks the engine for a merged [`Tree`] or
//! series, and encodes the answer off the I/O threads. A range that lies
//! entirely before the lookback window is answered with the encoding of an
//! empty tree, so clients always get the shape they asked for.

use kiln_model::ProfileType;
use kiln_model::flamegraph::flamegraph;
use kiln_model::flamegraph_diff::flamegraph_diff;
use kiln_model::labels::names;
use kiln_model::selector::Matcher;
use kiln_model::tree::Tree;
use kiln_model::tree_bytes::tree_bytes;
use kiln_model::tree_pprof::tree_to_pprof;
use kiln_proto::google::v1::Profile;
use kiln_proto::querier::v1::{
    DiffRequest, DiffResponse, PprofProfile, ProfileFormat, SelectHeatmapRequest,
    SelectHeatmapResponse, SelectMergeProfileRequest, SelectMergeSpanProfileRequest,
    SelectMergeSpanProfileResponse, SelectMergeStacktracesRequest, SelectMergeStacktracesResponse,
    SelectSeriesRequest, SelectSeriesResponse,
};
use kiln_proto::types::v1::{ExemplarType, StackTraceSelector};
use kiln_query::{LabelsQuery, ProfileQuery, SeriesQuery};

use super::validate::{self, MAX_TIME_MS};
use super::{Querier, off_io, query_error};
use crate::error::{ApiError, Code};

/// The parts of a request that select profiles, borrowed from it.
struct Selection<'a> {
    /// Prefix of field names in error messages: `""`, `"left."`, `"right."`.
    field: &'a str,
    profile_type_id: &'a str,
    label_selector: &'a str,
    start: i64,
    end: i64,
    stack_trace_selector: Option<&'a StackTraceSelector>,
    profile_ids: &'a [String],
    span_ids: Vec<u64>,
}

impl<'a> Selection<'a> {
    /// The selection of a `SelectMergeStacktracesRequest` (also each side of a diff).
    fn of_stacktraces(
        field: &'a str,
        r: &'a SelectMergeStacktracesRequest,
    ) -> Result<Self, ApiError> {
        reject_trace_ids(field, &r.trace_id_selector)?;
        Ok(Self {
            field,
            profile_type_id: &r.profile_type_id,
            label_selector: &r.label_selector,
            start: r.start,
            end: r.end,
            stack_trace_selector: r.stack_trace_selector.as_ref(),
            profile_ids: &r.profile_id_selector,
            span_ids: validate::span_ids(&format!("{field}span_selector"), &r.span_selector)?,
        })
    }
}

/// A validated selection.
struct Selected {
    profile_type: ProfileType,
    /// `None` when the range lies before the lookback window: answer empty.
    query: Option<ProfileQuery>,
    /// The range the answer covers (validated, or as requested when empty).
    start_ms: i64,
    end_ms: i64,
}

fn unimplemented(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::Unimplemented, message)
}

/// Kiln keeps span ids from pprof sample labels but no trace ids.
fn reject_trace_ids(field: &str, trace_ids: &[String]) -> Result<(), ApiError> {
    if trace_ids.is_empty() {
        return Ok(());
    }
    Err(unimplemented(format!(
        "{field}trace_id_selector is not supported: Kiln keeps span ids (span_selector), not \
         trace ids"
    )))
}

impl Querier {
    /// Validates a selection: profile type, selector, profile ids, range
    /// (lookback clamp, length limit), then checks the type is known to the
    /// tenant. The type goes into `ProfileQuery.profile_type`; the engine
    /// ANDs it with the selector (`__profile_type__`, spec §2.7).
    async fn profile_query(&self, tenant: &str, s: Selection<'_>) -> Result<Selected, ApiError> {
        let field = |name: &str| format!("{}{name}", s.field);
        let limits = self.limits(tenant);
        let profile_type = validate::profile_type(&field("profile_typeID"), s.profile_type_id)?;
        let selector = validate::selector(&field("label_selector"), s.label_selector)?;
        let profile_ids = validate::profile_ids(&field("profile_id_selector"), s.profile_ids)?;
        let call_site = validate::call_site(s.stack_trace_selector);
        let Some(range) = validate::profile_range(limits, self.now_ms(), s.start, s.end)? else {
            return Ok(Selected {
                profile_type,
                query: None,
                start_ms: s.start,
                end_ms: s.end,
            });
        };
        self.ensure_known_profile_type(tenant, &profile_type, &field("profile_typeID"))
            .await?;
        let query = ProfileQuery {
            tenant: tenant.to_string(),
            profile_type: profile_type.clone(),
            selector,
            start_ms: range.start_ms,
            end_ms: range.end_ms,
            call_site,
            profile_ids,
            span_ids: s.span_ids,
        };
        Ok(Selected {
            profile_type,
            query: Some(query),
            start_ms: range.start_ms,
            end_ms: range.end_ms,
        })
    }

    /// An unknown profile type is a client mistake (a typo, or another
    /// tenant's type), not an empty answer: `invalid_argument` naming it.
    /// "Known" means the tenant has profiles of that type anywhere in the
    /// lookback window, so a known type over an empty range still answers
    /// empty, as Grafana expects when it pans across a gap.
    async fn ensure_known_profile_type(
        &self,
        tenant: &str,
        profile_type: &ProfileType,
        field: &str,
    ) -> Result<(), ApiError> {
        let limits = self.limits(tenant);
        let lookback = validate::lookback_start(limits, self.now_ms());
        let known = self
            .engine
            .profile_types(tenant, lookback.unwrap_or(0), MAX_TIME_MS)
            .await
            .map_err(query_error)?;
        if known.contains(profile_type) {
            return Ok(());
        }
        let window = match lookback {
            Some(_) => format!(
                " in the last {} (limits.max_query_lookback)",
                humantime::format_duration(limits.max_query_lookback)
            ),
            None => String::new(),
        };
        let known_list = if known.is_empty() {
            "none".to_string()
        } else {
            let mut ids: Vec<String> = known.iter().take(10).map(ProfileType::id).collect();
            if known.len() > 10 {
                ids.push(format!("… ({} in all)", known.len()));
            }
            ids.join(", ")
        };
        Err(ApiError::invalid_argument(format!(
            "{field}: unknown profile type {:?}: the tenant has no profiles of that type{window}; \
             known types: {known_list}",
            profile_type.id()
        )))
    }

    /// The merged tree of a selection; empty when the range was empty.
    async fn merge(&self, query: Option<&ProfileQuery>) -> Result<Tree, ApiError> {
        match query {
            Some(q) => self.engine.merge_tree(q).await.map_err(query_error),
            None => Ok(Tree::new()),
        }
    }

    pub(crate) async fn select_merge_stacktraces(
        &self,
        tenant: &str,
        request: SelectMergeStacktracesRequest,
    ) -> Result<SelectMergeStacktracesResponse, ApiError> {
        let format = validate::format(request.format)?;
        if format == ProfileFormat::Dot {
            return Err(unimplemented(
                "PROFILE_FORMAT_DOT is not supported by Kiln: use PROFILE_FORMAT_FLAMEGRAPH, \
                 PROFILE_FORMAT_TREE or PROFILE_FORMAT_PPROF",
            ));
        }
        let max_nodes = validate::max_nodes(self.limits(tenant), request.max_nodes)?;
        let selected = self
            .profile_query(tenant, Selection::of_stacktraces("", &request)?)
            .await?;
        let tree = self.merge(selected.query.as_ref()).await?;
        off_io(move || {
            let mut response = SelectMergeStacktracesResponse::default();
            match format {
                ProfileFormat::Tree => response.tree = tree_bytes(&tree, max_nodes),
                ProfileFormat::Pprof => {
                    response.pprof = Some(PprofProfile {
                        profile: Some(export_pprof(&tree, max_nodes, &selected)),
                    })
                }
                _ => response.flamegraph = Some(flamegraph(&tree, max_nodes)),
            }
            response
        })
        .await
    }

    /// The merged profile as a bare pprof. As in Pyroscope, the node limits
    /// apply only with `limits.max_flamegraph_nodes_on_select_merge_profile`;
    /// otherwise a positive `max_nodes` truncates and anything else keeps
    /// every node.
    pub(crate) async fn select_merge_profile(
        &self,
        tenant: &str,
        request: SelectMergeProfileRequest,
    ) -> Result<Profile, ApiError> {
        reject_trace_ids("", &request.trace_id_selector)?;
        let limits = self.limits(tenant);
        let max_nodes = if limits.max_flamegraph_nodes_on_select_merge_profile {
            validate::max_nodes(limits, request.max_nodes)?
        } else {
            request.max_nodes.unwrap_or(0)
        };
        let selection = Selection {
            field: "",
            profile_type_id: &request.profile_type_id,
            label_selector: &request.label_selector,
            start: request.start,
            end: request.end,
            stack_trace_selector: request.stack_trace_selector.as_ref(),
            profile_ids: &request.profile_id_selector,
            span_ids: Vec::new(),
        };
        let selected = self.profile_query(tenant, selection).await?;
        let tree = self.merge(selected.query.as_ref()).await?;
        off_io(move || export_pprof(&tree, max_nodes, &selected)).await
    }

    /// Flame graph or tree of the samples carrying one of the span ids. An
    /// empty `span_selector` selects no sample (as in Pyroscope), so the
    /// answer is empty.
    pub(crate) async fn select_merge_span_profile(
        &self,
        tenant: &str,
        request: SelectMergeSpanProfileRequest,
    ) -> Result<SelectMergeSpanProfileResponse, ApiError> {
        let format = validate::format(request.format)?;
        if matches!(format, ProfileFormat::Dot | ProfileFormat::Pprof) {
            return Err(unimplemented(format!(
                "SelectMergeSpanProfile answers PROFILE_FORMAT_FLAMEGRAPH or PROFILE_FORMAT_TREE, \
                 not {}; use SelectMergeStacktraces with span_selector for other formats",
                format.as_str_name()
            )));
        }
        let max_nodes = validate::max_nodes(self.limits(tenant), request.max_nodes)?;
        let span_ids = validate::span_ids("span_selector", &request.span_selector)?;
        let no_spans = span_ids.is_empty();
        let selection = Selection {
            field: "",
            profile_type_id: &request.profile_type_id,
            label_selector: &request.label_selector,
            start: request.start,
            end: request.end,
            stack_trace_selector: None,
            profile_ids: &[],
            span_ids,
        };
        let selected = self.profile_query(tenant, selection).await?;
        let tree = match no_spans {
            true => Tree::new(),
            false => self.merge(selected.query.as_ref()).await?,
        };
        off_io(move || match format {
            ProfileFormat::Tree => SelectMergeSpanProfileResponse {
                tree: tree_bytes(&tree, max_nodes),
                ..Default::default()
            },
            _ => SelectMergeSpanProfileResponse {
                flamegraph: Some(flamegraph(&tree, max_nodes)),
                ..Default::default()
            },
        })
        .await
    }

    /// Totals per step. Exemplars are passed through when the engine has
    /// them and `exemplar_type` asks for them (INDIVIDUAL or SPAN); the
    /// engine may return none.
    pub(crate) async fn select_series(
        &self,
        tenant: &str,
        request: SelectSeriesRequest,
    ) -> Result<SelectSeriesResponse, ApiError> {
        let step = validate::step(request.step)?;
        let aggregation = validate::aggregation(request.aggregation)?;
        let group_by = validate::group_by(&request.group_by)?;
        let exemplar_type = validate::exemplar_type(request.exemplar_type)?;
        // Pyroscope: a limit of 0 or less means "all series".
        let limit = request
            .limit
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0);
        let selection = Selection {
            field: "",
            profile_type_id: &request.profile_type_id,
            label_selector: &request.label_selector,
            start: request.start,
            end: request.end,
            stack_trace_selector: request.stack_trace_selector.as_ref(),
            profile_ids: &[],
            span_ids: Vec::new(),
        };
        let Some(profiles) = self.profile_query(tenant, selection).await?.query else {
            return Ok(SelectSeriesResponse::default());
        };
        self.ensure_group_by_labels(&profiles, &group_by).await?;
        let query = SeriesQuery {
            profiles,
            step_seconds: step,
            group_by,
            aggregation,
            limit,
        };
        let mut series = self
            .engine
            .select_series(&query)
            .await
            .map_err(query_error)?;
        if matches!(
            exemplar_type,
            ExemplarType::Unspecified | ExemplarType::None
        ) {
            for point in series.iter_mut().flat_map(|s| s.points.iter_mut()) {
                point.exemplars.clear();
            }
        }
        Ok(SelectSeriesResponse { series })
    }

    /// A `group_by` label that no selected series carries is a mistake
    /// (`invalid_argument`), unless nothing is selected at all (then the
    /// answer is simply empty).
    async fn ensure_group_by_labels(
        &self,
        profiles: &ProfileQuery,
        group_by: &[String],
    ) -> Result<(), ApiError> {
        if group_by.is_empty() {
            return Ok(());
        }
        let selector = profiles.selector.clone().with(Matcher::equal(
            names::PROFILE_TYPE,
            profiles.profile_type.id(),
        ));
        let query = LabelsQuery {
            tenant: profiles.tenant.clone(),
            selectors: vec![selector.clone()],
            start_ms: profiles.start_ms,
            end_ms: profiles.end_ms,
        };
        let present = self.engine.label_names(&query).await.map_err(query_error)?;
        if present.is_empty() {
            return Ok(());
        }
        let Some(missing) = group_by.iter().find(|g| !present.contains(g)) else {
            return Ok(());
        };
        let public: Vec<&str> = present
            .iter()
            .map(String::as_str)
            .filter(|n| !n.starts_with("__"))
            .take(20)
            .collect();
        Err(ApiError::invalid_argument(format!(
            "unknown group_by label {missing:?}: no series selected by {selector} in the time \
             range has it; their labels are: {}",
            public.join(", ")
        )))
    }

    /// Left and right must select the same profile type; `max_nodes` is the
    /// left side's (else the right's); each side's `format` is ignored.
    pub(crate) async fn diff(
        &self,
        tenant: &str,
        request: DiffRequest,
    ) -> Result<DiffResponse, ApiError> {
        let side = |r: Option<SelectMergeStacktracesRequest>, name: &str| {
            r.ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "{name} is required: the SelectMergeStacktracesRequest of the {name} side"
                ))
            })
        };
        let left = side(request.left, "left")?;
        let right = side(request.right, "right")?;
        let left_type = validate::profile_type("left.profile_typeID", &left.profile_type_id)?;
        let right_type = validate::profile_type("right.profile_typeID", &right.profile_type_id)?;
        if left_type != right_type {
            return Err(ApiError::invalid_argument(format!(
                "left and right must select the same profile type (left: {left_type}, right: \
                 {right_type})"
            )));
        }
        let max_nodes =
            validate::max_nodes(self.limits(tenant), left.max_nodes.or(right.max_nodes))?;
        let left_selection = Selection::of_stacktraces("left.", &left)?;
        let right_selection = Selection::of_stacktraces("right.", &right)?;
        let (left_selected, right_selected) = futures::try_join!(
            self.profile_query(tenant, left_selection),
            self.profile_query(tenant, right_selection),
        )?;
        let (left_tree, right_tree) = futures::try_join!(
            self.merge(left_selected.query.as_ref()),
            self.merge(right_selected.query.as_ref()),
        )?;
        let diff = off_io(move || flamegraph_diff(&left_tree, &right_tree, max_nodes))
            .await?
            .map_err(|e| ApiError::invalid_argument(format!("cannot diff the selections: {e}")))?;
        Ok(DiffResponse {
            flamegraph: Some(diff),
        })
    }

    pub(crate) async fn select_heatmap(
        &self,
        _tenant: &str,
        _request: SelectHeatmapRequest,
    ) -> Result<SelectHeatmapResponse, ApiError> {
        Err(unimplemented(
            "SelectHeatmap is not supported by Kiln yet: use SelectSeries for totals over time",
        ))
    }
}

/// The pprof export of a selection's tree, truncated to `max_nodes` when
/// that is positive, stamped with the selection's range.
fn export_pprof(tree: &Tree, max_nodes: i64, selected: &Selected) -> Profile {
    let truncated;
    let tree = if max_nodes > 0 {
        truncated = tree.truncate(max_nodes);
        &truncated
    } else {
        tree
    };
    let ns = |ms: i64| ms.saturating_mul(1_000_000);
    tree_to_pprof(
        tree,
        &selected.profile_type,
        ns(selected.start_ms),
        ns(selected.end_ms.saturating_sub(selected.start_ms)),
    )
}
