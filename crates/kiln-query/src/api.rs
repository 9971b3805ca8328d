//! The engine's contract with the API layer: validated, typed queries in,
//! model types out. Encodings (flame graph, tree bytes, diff, JSON) belong
//! to the API layer.

use crate::error::QueryError;
use async_trait::async_trait;
use kiln_model::selector::Selector;
use kiln_model::tree::Tree;
use kiln_model::{Labels, ProfileType};

/// A selection of profiles: one tenant, one profile type, a label selector
/// and a time range. Times are milliseconds since the epoch, inclusive.
#[derive(Debug, Clone)]
pub struct ProfileQuery {
    pub tenant: String,
    pub profile_type: ProfileType,
    /// Label matchers (the profile type is matched separately).
    pub selector: Selector,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Keep only stacks whose root-first prefix equals these function names.
    pub call_site: Vec<String>,
    /// Keep only these profiles (server-assigned ids); empty = all.
    pub profile_ids: Vec<String>,
    /// Keep only samples with these span ids; empty = all.
    pub span_ids: Vec<u64>,
}

/// How points of one step are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// Sum of every profile's total in the step (counters: CPU, allocations).
    #[default]
    Sum,
    /// Mean of the profiles' totals in the step (gauges: in-use memory, goroutines).
    Average,
}

/// `SelectSeries`: totals per step, grouped by labels.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    pub profiles: ProfileQuery,
    /// Step in seconds (> 0).
    pub step_seconds: f64,
    /// Labels to group by: each series' labels are reduced to these names
    /// (Pyroscope's `WithLabels`); empty = every selected series merged into
    /// one series without labels.
    pub group_by: Vec<String>,
    pub aggregation: Aggregation,
    /// Keep the top-N series by the sum of their points; `None` or `Some(0)` = all.
    pub limit: Option<usize>,
}

/// Label API scope: tenant, union of selectors (empty = everything), range.
#[derive(Debug, Clone)]
pub struct LabelsQuery {
    pub tenant: String,
    pub selectors: Vec<Selector>,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// `GetProfileStats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProfileStats {
    pub data_ingested: bool,
    pub oldest_profile_ms: i64,
    pub newest_profile_ms: i64,
}

/// Everything the query API needs from storage. One implementation runs
/// DataFusion over blocks; tests may use fakes.
#[async_trait]
pub trait QueryEngine: Send + Sync + std::fmt::Debug {
    /// Merged call tree of the selected profiles (flame graphs, tree bytes,
    /// diffs and pprof export are encoded from it).
    async fn merge_tree(&self, query: &ProfileQuery) -> Result<Tree, QueryError>;

    /// `SelectSeries`: one `types.v1.Series` per group, points at
    /// `start + k·step` (a profile at `t` counts in the first boundary ≥ t),
    /// empty buckets omitted, series sorted by labels.
    async fn select_series(
        &self,
        query: &SeriesQuery,
    ) -> Result<Vec<kiln_proto::types::v1::Series>, QueryError>;

    /// Distinct profile types with data in range, sorted by ID.
    async fn profile_types(
        &self,
        tenant: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ProfileType>, QueryError>;

    /// Sorted distinct label names of matching series.
    async fn label_names(&self, query: &LabelsQuery) -> Result<Vec<String>, QueryError>;

    /// Sorted distinct values of `name` on matching series.
    async fn label_values(
        &self,
        query: &LabelsQuery,
        name: &str,
    ) -> Result<Vec<String>, QueryError>;

    /// Distinct label sets of matching series, reduced to `label_names`
    /// when that is not empty; sorted.
    async fn series(
        &self,
        query: &LabelsQuery,
        label_names: &[String],
    ) -> Result<Vec<Labels>, QueryError>;

    /// Whether the tenant has data, and its oldest/newest profile times.
    async fn profile_stats(&self, tenant: &str) -> Result<ProfileStats, QueryError>;
}
