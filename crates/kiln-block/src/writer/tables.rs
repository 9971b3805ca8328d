//! From normalised profiles to the rows of each file: series ids, merged
//! samples, profile rows and the series summary.

use super::symbols::{SymbolBuilder, Symbols};
use crate::BlockError;
use crate::meta::SeriesSummary;
use kiln_model::{Labels, NormalizedProfile};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One row of `samples.parquet` (or of a rollup table). Field order is the
/// sort order: (series_id, time_ns, stack_id, span_id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SampleRow {
    pub series_id: u32,
    pub time_ns: i64,
    pub stack_id: u32,
    pub span_id: u64,
    pub value: i64,
}

/// One row of `profiles.parquet`.
pub(crate) struct ProfileRow<'a> {
    pub series_id: u32,
    pub time_ns: i64,
    pub duration_ns: i64,
    pub period: i64,
    pub total: i64,
    pub sample_count: u32,
    pub profile_id: &'a str,
}

/// One row of `series.parquet`; row `i` has series id `i`.
pub(crate) struct SeriesRow<'a> {
    pub labels: &'a Labels,
    pub profile_type: String,
    pub service_name: &'a str,
}

/// Everything the block's files are made of, before Arrow.
pub(crate) struct Tables<'a> {
    pub series: Vec<SeriesRow<'a>>,
    pub samples: Vec<SampleRow>,
    pub profiles: Vec<ProfileRow<'a>>,
    pub symbols: Symbols<'a>,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
}

impl<'a> Tables<'a> {
    pub fn build(profiles: &'a [NormalizedProfile]) -> Result<Self, BlockError> {
        if profiles.is_empty() {
            return Err(BlockError::Empty);
        }
        let (series, series_of) = assign_series(profiles)?;

        let mut symbols = SymbolBuilder::new();
        let mut samples = Vec::with_capacity(profiles.iter().map(|p| p.samples.len()).sum());
        let mut rows = Vec::with_capacity(profiles.len());
        for (p, &series_id) in profiles.iter().zip(&series_of) {
            let table_key = Arc::as_ptr(&p.frames) as usize;
            let mut total = 0i64;
            for s in &p.samples {
                let node = symbols.intern_stack(table_key, &p.frames, &s.stack)?;
                total = total.wrapping_add(s.value);
                samples.push(SampleRow {
                    series_id,
                    time_ns: p.time_nanos,
                    stack_id: node,
                    span_id: s.span_id,
                    value: s.value,
                });
            }
            rows.push(ProfileRow {
                series_id,
                time_ns: p.time_nanos,
                duration_ns: p.duration_nanos,
                period: p.period,
                total,
                sample_count: u32::try_from(p.samples.len()).unwrap_or(u32::MAX),
                profile_id: &p.profile_id,
            });
        }
        let symbols = symbols.finish();
        for s in &mut samples {
            s.stack_id = symbols.node_to_stack[s.stack_id as usize];
        }
        let samples = merge_samples(samples);
        rows.sort_unstable_by(|a, b| {
            (a.series_id, a.time_ns, a.profile_id).cmp(&(b.series_id, b.time_ns, b.profile_id))
        });
        let min_time_ns = profiles
            .iter()
            .map(|p| p.time_nanos)
            .min()
            .unwrap_or_default();
        let max_time_ns = profiles
            .iter()
            .map(|p| p.time_nanos)
            .max()
            .unwrap_or_default();
        Ok(Self {
            series,
            samples,
            profiles: rows,
            symbols,
            min_time_ns,
            max_time_ns,
        })
    }

    /// The series summary of `meta.json`.
    pub fn summary(&self) -> SeriesSummary {
        summarize(
            &self.series,
            self.profiles.len() as u64,
            self.samples.len() as u64,
        )
    }
}

/// The series summary of `meta.json` for a block with these series and row counts.
pub(crate) fn summarize(series: &[SeriesRow<'_>], profiles: u64, samples: u64) -> SeriesSummary {
    let mut services = BTreeSet::new();
    let mut profile_types = BTreeSet::new();
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in series {
        if !s.service_name.is_empty() {
            services.insert(s.service_name);
        }
        profile_types.insert(s.profile_type.as_str());
        for l in s.labels {
            values.entry(&l.name).or_default().insert(&l.value);
        }
    }
    SeriesSummary {
        series: series.len() as u64,
        profiles,
        samples,
        services: services.into_iter().map(str::to_owned).collect(),
        profile_types: profile_types.into_iter().map(str::to_owned).collect(),
        label_names: values
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.len() as u64))
            .collect(),
    }
}

/// Series ids in sorted label-set order; returns the series rows and the
/// series id of every profile.
fn assign_series(
    profiles: &[NormalizedProfile],
) -> Result<(Vec<SeriesRow<'_>>, Vec<u32>), BlockError> {
    let mut order: Vec<usize> = (0..profiles.len()).collect();
    order.sort_by(|&a, &b| profiles[a].labels.cmp(&profiles[b].labels));
    let mut series: Vec<SeriesRow<'_>> = Vec::new();
    let mut series_of = vec![0u32; profiles.len()];
    for i in order {
        let p = &profiles[i];
        let profile_type = p.profile_type.id();
        match series.last() {
            Some(last) if last.labels == &p.labels => {
                if last.profile_type != profile_type {
                    return Err(BlockError::InvalidProfile(format!(
                        "series {:?} has two profile types: {} and {profile_type}",
                        p.labels, last.profile_type
                    )));
                }
            }
            _ => series.push(SeriesRow {
                labels: &p.labels,
                profile_type,
                service_name: p.service_name(),
            }),
        }
        series_of[i] = (series.len() - 1) as u32;
    }
    Ok((series, series_of))
}

/// Sorts by (series, time, stack, span) and sums rows with equal keys;
/// rows whose sum is zero are dropped.
fn merge_samples(mut samples: Vec<SampleRow>) -> Vec<SampleRow> {
    samples.sort_unstable();
    let mut out: Vec<SampleRow> = Vec::with_capacity(samples.len());
    for s in samples {
        match out.last_mut() {
            Some(last)
                if (last.series_id, last.time_ns, last.stack_id, last.span_id)
                    == (s.series_id, s.time_ns, s.stack_id, s.span_id) =>
            {
                last.value = last.value.wrapping_add(s.value);
            }
            _ => out.push(s),
        }
    }
    out.retain(|s| s.value != 0);
    out
}
