//! Label APIs, profile types and profile stats: answered from block
//! metadata (`meta.json` summaries, as listed by the metastore) when that
//! suffices, otherwise from the cached series indexes.
//!
//! | call | no selector | with selectors |
//! |---|---|---|
//! | profile types | summary `profile_types` | — |
//! | label names | summary `label_names` | series index, selected series |
//! | label values | series index postings | series index, selected series |
//! | series | series index | series index, selected series |
//!
//! With several selectors the answer is the **union** over them (spec §2.7).
//! An empty selector (`{}`) selects everything.

use crate::api::{LabelsQuery, ProfileStats};
use crate::engine::Inner;
use crate::error::QueryError;
use crate::plan::{list_blocks, may_match, ns_range, select_series};
use futures::{StreamExt, TryStreamExt};
use kiln_block::{BlockMeta, SeriesIndex};
use kiln_model::{Labels, ProfileType};
use roaring::RoaringBitmap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Series indexes loaded concurrently.
const LOAD_CONCURRENCY: usize = 16;

pub(crate) async fn profile_types(
    inner: &Inner,
    tenant: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<ProfileType>, QueryError> {
    let (start_ns, end_ns) = ns_range(start_ms, end_ms)?;
    let ids: BTreeSet<String> = list_blocks(inner, tenant, start_ns, end_ns)
        .await?
        .into_iter()
        .flat_map(|m| m.summary.profile_types)
        .collect();
    let mut types: Vec<(String, ProfileType)> = ids
        .into_iter()
        .filter_map(|id| match ProfileType::parse(&id) {
            Ok(t) => Some((t.id(), t)),
            Err(e) => {
                tracing::warn!(tenant, id, error = %e, "skipping unparsable profile type");
                None
            }
        })
        .collect();
    types.sort_by(|a, b| a.0.cmp(&b.0));
    types.dedup_by(|a, b| a.0 == b.0);
    Ok(types.into_iter().map(|(_, t)| t).collect())
}

/// True when the query selects every series.
fn selects_all(query: &LabelsQuery) -> bool {
    query.selectors.is_empty() || query.selectors.iter().any(|s| s.is_empty())
}

/// Blocks of the query's range that may hold a matching series, with their
/// series index and the selected series ids (union over the selectors).
async fn selected(
    inner: &Inner,
    query: &LabelsQuery,
) -> Result<Vec<(Arc<SeriesIndex>, RoaringBitmap)>, QueryError> {
    let (start_ns, end_ns) = ns_range(query.start_ms, query.end_ms)?;
    let all = selects_all(query);
    let metas: Vec<BlockMeta> = list_blocks(inner, &query.tenant, start_ns, end_ns)
        .await?
        .into_iter()
        .filter(|m| all || query.selectors.iter().any(|s| may_match(m, s)))
        .collect();
    futures::stream::iter(metas)
        .map(|meta| async move {
            let index = inner.blocks.series(&meta).await?;
            let ids = if all {
                index.all()
            } else {
                query
                    .selectors
                    .iter()
                    .filter(|s| may_match(&meta, s))
                    .fold(RoaringBitmap::new(), |acc, s| {
                        acc | select_series(&index, s)
                    })
            };
            Ok::<_, QueryError>((index, ids))
        })
        .buffered(LOAD_CONCURRENCY)
        .try_filter(|(_, ids)| futures::future::ready(!ids.is_empty()))
        .try_collect()
        .await
}

pub(crate) async fn label_names(
    inner: &Inner,
    query: &LabelsQuery,
) -> Result<Vec<String>, QueryError> {
    if selects_all(query) {
        let (start_ns, end_ns) = ns_range(query.start_ms, query.end_ms)?;
        let names: BTreeSet<String> = list_blocks(inner, &query.tenant, start_ns, end_ns)
            .await?
            .into_iter()
            .flat_map(|m| m.summary.label_names.into_keys())
            .collect();
        return Ok(names.into_iter().collect());
    }
    let mut names = BTreeSet::new();
    for (index, ids) in selected(inner, query).await? {
        for id in &ids {
            if let Some(labels) = index.labels(id) {
                names.extend(labels.iter().map(|l| l.name.clone()));
            }
        }
    }
    Ok(names.into_iter().collect())
}

pub(crate) async fn label_values(
    inner: &Inner,
    query: &LabelsQuery,
    name: &str,
) -> Result<Vec<String>, QueryError> {
    let all = selects_all(query);
    let mut values = BTreeSet::new();
    for (index, ids) in selected(inner, query).await? {
        if all {
            values.extend(index.label_values(name).map(str::to_string));
            continue;
        }
        for id in &ids {
            if let Some(v) = index.labels(id).and_then(|l| l.get(name)) {
                values.insert(v.to_string());
            }
        }
    }
    Ok(values.into_iter().collect())
}

pub(crate) async fn series(
    inner: &Inner,
    query: &LabelsQuery,
    label_names: &[String],
) -> Result<Vec<Labels>, QueryError> {
    let mut out = BTreeSet::new();
    for (index, ids) in selected(inner, query).await? {
        for id in &ids {
            let Some(labels) = index.labels(id) else {
                continue;
            };
            if label_names.is_empty() {
                out.insert(labels.clone());
            } else {
                let reduced: Labels = labels
                    .iter()
                    .filter(|l| label_names.contains(&l.name))
                    .cloned()
                    .collect();
                out.insert(reduced);
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Whether the tenant has any block, and the time span of all its blocks
/// (zeros when it has none).
pub(crate) async fn profile_stats(inner: &Inner, tenant: &str) -> Result<ProfileStats, QueryError> {
    let metas = inner
        .metastore
        .list_blocks(tenant, i64::MIN, i64::MAX)
        .await?;
    let metas = metas.iter().filter(|m| m.tenant == tenant);
    let (mut oldest, mut newest) = (i64::MAX, i64::MIN);
    let mut any = false;
    for m in metas {
        any = true;
        oldest = oldest.min(m.min_time_ns);
        newest = newest.max(m.max_time_ns);
    }
    if !any {
        return Ok(ProfileStats::default());
    }
    Ok(ProfileStats {
        data_ingested: true,
        oldest_profile_ms: oldest.div_euclid(1_000_000),
        newest_profile_ms: newest.div_euclid(1_000_000),
    })
}
