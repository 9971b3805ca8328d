//! The pprof tables normalisation reads, with borrowed strings and flat
//! arrays: filled either straight from the wire ([`super::wire`]) or from a
//! prost [`Profile`], so both paths share one normaliser.

use kiln_proto::google::v1::Profile;
use std::ops::Range;

/// A pprof profile as normalisation needs it. Per-sample and per-location
/// lists are ranges into shared flat vectors (one allocation per table
/// instead of several per sample).
#[derive(Debug, Default)]
pub(super) struct ProfileView<'a> {
    /// `(type, unit)` string indices per sample type.
    pub sample_types: Vec<(i64, i64)>,
    pub period_type: Option<(i64, i64)>,
    pub samples: Vec<SampleRef>,
    pub location_ids: Vec<u64>,
    pub values: Vec<i64>,
    pub labels: Vec<LabelRef>,
    pub mappings: Vec<MappingRef>,
    pub locations: Vec<LocationRef>,
    pub lines: Vec<LineRef>,
    pub functions: Vec<FunctionRef>,
    pub strings: Vec<&'a str>,
    pub time_nanos: i64,
    pub duration_nanos: i64,
    pub period: i64,
}

/// One sample: ranges into `location_ids`, `values` and `labels`.
#[derive(Debug, Clone, Default)]
pub(super) struct SampleRef {
    pub location_ids: Range<usize>,
    pub values: Range<usize>,
    pub labels: Range<usize>,
}

/// A sample label's string indices (`num` is never used, see `normalise`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LabelRef {
    pub key: i64,
    pub str: i64,
    pub num_unit: i64,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MappingRef {
    pub id: u64,
    pub filename: i64,
    pub build_id: i64,
}

/// A location: its lines are `lines[lines]`, callee first.
#[derive(Debug, Clone, Default)]
pub(super) struct LocationRef {
    pub id: u64,
    pub mapping_id: u64,
    pub address: u64,
    pub lines: Range<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LineRef {
    pub function_id: u64,
    pub line: i64,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FunctionRef {
    pub id: u64,
    pub name: i64,
    pub system_name: i64,
    pub filename: i64,
}

impl<'a> ProfileView<'a> {
    /// Borrows a prost-decoded profile (the path for callers that build or
    /// edit a [`Profile`] themselves: OTLP, legacy `/ingest`).
    pub(super) fn from_profile(p: &'a Profile) -> Self {
        let mut view = ProfileView {
            sample_types: p.sample_type.iter().map(|t| (t.r#type, t.unit)).collect(),
            period_type: p.period_type.as_ref().map(|t| (t.r#type, t.unit)),
            samples: Vec::with_capacity(p.sample.len()),
            mappings: p
                .mapping
                .iter()
                .map(|m| MappingRef {
                    id: m.id,
                    filename: m.filename,
                    build_id: m.build_id,
                })
                .collect(),
            locations: Vec::with_capacity(p.location.len()),
            functions: p
                .function
                .iter()
                .map(|f| FunctionRef {
                    id: f.id,
                    name: f.name,
                    system_name: f.system_name,
                    filename: f.filename,
                })
                .collect(),
            strings: p.string_table.iter().map(String::as_str).collect(),
            time_nanos: p.time_nanos,
            duration_nanos: p.duration_nanos,
            period: p.period,
            ..Default::default()
        };
        for s in &p.sample {
            let sample = SampleRef {
                location_ids: extend(&mut view.location_ids, s.location_id.iter().copied()),
                values: extend(&mut view.values, s.value.iter().copied()),
                labels: extend(
                    &mut view.labels,
                    s.label.iter().map(|l| LabelRef {
                        key: l.key,
                        str: l.str,
                        num_unit: l.num_unit,
                    }),
                ),
            };
            view.samples.push(sample);
        }
        for loc in &p.location {
            let lines = extend(
                &mut view.lines,
                loc.line.iter().map(|l| LineRef {
                    function_id: l.function_id,
                    line: l.line,
                }),
            );
            view.locations.push(LocationRef {
                id: loc.id,
                mapping_id: loc.mapping_id,
                address: loc.address,
                lines,
            });
        }
        view
    }
}

/// Appends `items` to `flat`, returning where they landed.
fn extend<T>(flat: &mut Vec<T>, items: impl IntoIterator<Item = T>) -> Range<usize> {
    let start = flat.len();
    flat.extend(items);
    start..flat.len()
}
