//! A `QueryEngine` with fixed, hand-checkable data for one tenant, so the
//! protocol tests can assert exact encodings (golden JSON, tree bytes, pprof)
//! without a storage engine.
//!
//! Data of [`FakeEngine::tenant`] (every other tenant sees nothing):
//! * trees: `{service_name="b"}` selects [`tree_b`], anything else [`tree_a`];
//! * profile types: CPU and in-use memory;
//! * two series, `service_name` a and b (plus the special labels);
//! * SelectSeries: points at `start + 1·step` (3) and `start + 3·step` (5)
//!   for each group (`service_name` groups: a and b), one group without
//!   `group_by`.

use std::sync::Mutex;

use async_trait::async_trait;
use kiln_model::tree::Tree;
use kiln_model::{Label, Labels, ProfileType};
use kiln_proto::types::v1::{LabelPair, Point, Series};
use kiln_query::{LabelsQuery, ProfileQuery, ProfileStats, QueryEngine, QueryError, SeriesQuery};

pub const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
pub const INUSE: &str = "memory:inuse_space:bytes:space:bytes";

/// main;work;hash 30, main;work 10, main;idle 5, gc 7 (total 52).
pub fn tree_a() -> Tree {
    let mut tree = Tree::new();
    tree.insert_stack(["main", "work", "hash"], 30);
    tree.insert_stack(["main", "work"], 10);
    tree.insert_stack(["main", "idle"], 5);
    tree.insert_stack(["gc"], 7);
    tree
}

/// main;work 20, gc 3 (total 23).
pub fn tree_b() -> Tree {
    let mut tree = Tree::new();
    tree.insert_stack(["main", "work"], 20);
    tree.insert_stack(["gc"], 3);
    tree
}

fn series_labels(service: &str, profile_type: &str) -> Labels {
    let pt = ProfileType::parse(profile_type).unwrap();
    Labels::new([
        Label::new("__name__", pt.name.clone()),
        Label::new("__profile_type__", profile_type),
        Label::new("service_name", service),
        Label::new("pod", format!("{service}-0")),
    ])
}

#[derive(Debug)]
pub struct FakeEngine {
    /// The only tenant with data.
    pub tenant: String,
    /// Tenants of every query, in order.
    pub seen: Mutex<Vec<String>>,
    /// Every merge query, for tests that check what reached the engine.
    pub merges: Mutex<Vec<ProfileQuery>>,
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self::for_tenant("anonymous")
    }
}

impl FakeEngine {
    pub fn for_tenant(tenant: &str) -> Self {
        Self {
            tenant: tenant.into(),
            seen: Mutex::default(),
            merges: Mutex::default(),
        }
    }

    /// Records the tenant; true when it owns the data.
    fn owns(&self, tenant: &str) -> bool {
        self.seen.lock().unwrap().push(tenant.to_string());
        tenant == self.tenant
    }

    fn all_series(&self) -> Vec<Labels> {
        vec![
            series_labels("a", CPU),
            series_labels("b", CPU),
            series_labels("a", INUSE),
        ]
    }

    fn matching(&self, query: &LabelsQuery) -> Vec<Labels> {
        if !self.owns(&query.tenant) {
            return Vec::new();
        }
        self.all_series()
            .into_iter()
            .filter(|l| query.selectors.is_empty() || query.selectors.iter().any(|s| s.matches(l)))
            .collect()
    }
}

#[async_trait]
impl QueryEngine for FakeEngine {
    async fn merge_tree(&self, query: &ProfileQuery) -> Result<Tree, QueryError> {
        self.merges.lock().unwrap().push(query.clone());
        if !self.owns(&query.tenant) {
            return Ok(Tree::new());
        }
        Ok(match query.selector.equal_value("service_name") {
            Some("b") => tree_b(),
            _ => tree_a(),
        })
    }

    async fn select_series(&self, query: &SeriesQuery) -> Result<Vec<Series>, QueryError> {
        if !self.owns(&query.profiles.tenant) {
            return Ok(Vec::new());
        }
        let step_ms = (query.step_seconds * 1000.0) as i64;
        let start = query.profiles.start_ms;
        let points = vec![
            Point {
                value: 3.0,
                timestamp: start + step_ms,
                ..Default::default()
            },
            Point {
                value: 5.0,
                timestamp: start + 3 * step_ms,
                ..Default::default()
            },
        ];
        let groups: Vec<Vec<LabelPair>> = if query.group_by.is_empty() {
            vec![vec![]]
        } else {
            ["a", "b"]
                .iter()
                .map(|service| {
                    query
                        .group_by
                        .iter()
                        .filter(|g| *g == "service_name")
                        .map(|g| LabelPair {
                            name: g.clone(),
                            value: service.to_string(),
                        })
                        .collect()
                })
                .collect()
        };
        Ok(groups
            .into_iter()
            .map(|labels| Series {
                labels,
                points: points.clone(),
            })
            .collect())
    }

    async fn profile_types(
        &self,
        tenant: &str,
        _start_ms: i64,
        _end_ms: i64,
    ) -> Result<Vec<ProfileType>, QueryError> {
        if !self.owns(tenant) {
            return Ok(Vec::new());
        }
        Ok(vec![
            ProfileType::parse(INUSE).unwrap(),
            ProfileType::parse(CPU).unwrap(),
        ])
    }

    async fn label_names(&self, query: &LabelsQuery) -> Result<Vec<String>, QueryError> {
        let mut names: Vec<String> = self
            .matching(query)
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn label_values(
        &self,
        query: &LabelsQuery,
        name: &str,
    ) -> Result<Vec<String>, QueryError> {
        let mut values: Vec<String> = self
            .matching(query)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    async fn series(
        &self,
        query: &LabelsQuery,
        label_names: &[String],
    ) -> Result<Vec<Labels>, QueryError> {
        let mut sets: Vec<Labels> = self
            .matching(query)
            .into_iter()
            .map(|l| {
                if label_names.is_empty() {
                    l
                } else {
                    l.iter()
                        .filter(|x| label_names.contains(&x.name))
                        .cloned()
                        .collect()
                }
            })
            .collect();
        sets.sort();
        sets.dedup();
        Ok(sets)
    }

    async fn profile_stats(&self, tenant: &str) -> Result<ProfileStats, QueryError> {
        if !self.owns(tenant) {
            return Ok(ProfileStats::default());
        }
        Ok(ProfileStats {
            data_ingested: true,
            oldest_profile_ms: 1_000,
            newest_profile_ms: 2_000,
        })
    }
}
