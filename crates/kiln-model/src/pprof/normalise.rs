//! Validation and normalisation of a decoded pprof into per-series profiles.

use super::series::{finish_series, sanitize_labels};
use super::symbols::{Strings, Symbols};
use crate::error::ModelError;
use crate::labels::names::{PROFILE_ID, SPAN_ID};
use crate::labels::{Label, Labels};
use crate::limits::{NormalizeLimits, exceeds};
use crate::profile::{NormalizedProfile, Sample};
use crate::profile_type::ProfileType;
use foldhash::HashMap;
use kiln_proto::google::v1::{Profile, Sample as PprofSample};
use std::sync::Arc;

/// Turns one decoded pprof into one [`NormalizedProfile`] per series
/// (spec §1), all sharing one frame table.
///
/// * **Validation** fails with a typed error: no sample types
///   ([`ModelError::EmptyProfile`]), a sample whose value count differs from
///   the sample-type count, zero/unknown location or function ids, string
///   indices out of range, more than `max_samples` samples or more than
///   `max_sample_labels` labels on a sample, and every label rule of
///   [`super::build_series_labels`].
/// * **Series**: one per sample type × distinct set of *string* sample
///   labels. String sample labels (dynamic tags, `pid`, `thread_id`) are
///   lifted into the series labels (names sanitised like client labels; a
///   sample label overrides a client label of the same name; names starting
///   with `__` are ignored), except `span_id`, parsed into
///   [`Sample::span_id`] (16 hex chars, anything else gives 0), and
///   `profile_id`, which is dropped.
/// * **Numeric sample labels** (`Label.num`, e.g. Go heap `bytes=<n>`) are
///   neither series labels nor part of a sample's identity: they describe a
///   single allocation size, would explode series cardinality, and Kiln's
///   storage has no per-sample label column, so they are discarded.
/// * **Stacks** are stored root first as indices into the frame table;
///   inlined lines of a location are expanded (callee first in pprof); a
///   location without lines becomes a frame named by its address
///   (`0x4aab49`) so that unsymbolised profiles still sum correctly. Stacks
///   deeper than `max_stack_depth` keep their leaf-most frames; symbols
///   longer than `max_symbol_len` are truncated.
/// * **Samples** with the same stack and span id are summed; sums of zero
///   are dropped; a series is emitted only if it keeps at least one sample,
///   so an all-zero profile yields an empty `Vec`.
///
/// Output order is deterministic: by sample type, then by the first
/// appearance of each sample-label set, with samples in first-appearance order.
pub fn normalise(
    profile: &Profile,
    series_labels: &Labels,
    profile_id: &str,
    limits: &NormalizeLimits,
) -> Result<Vec<NormalizedProfile>, ModelError> {
    if profile.sample_type.is_empty() {
        return Err(ModelError::EmptyProfile);
    }
    if exceeds(limits.max_samples, profile.sample.len()) {
        return Err(ModelError::TooManySamples {
            got: profile.sample.len(),
            limit: limits.max_samples,
        });
    }
    let strings = Strings::new(&profile.string_table);
    let types = profile_types(profile, strings)?;
    let base = sanitize_labels(
        series_labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str())),
        limits,
    )?;

    let mut symbols = Symbols::new(profile, limits)?;
    let mut groups = LabelGroups::default();
    let mut acc = Accumulator::new(types.len());
    let mut stack = Vec::new();
    for sample in &profile.sample {
        if sample.value.len() != types.len() {
            return Err(ModelError::SampleValueCount {
                got: sample.value.len(),
                want: types.len(),
            });
        }
        if exceeds(limits.max_sample_labels, sample.label.len()) {
            return Err(ModelError::TooManySampleLabels {
                got: sample.label.len(),
                limit: limits.max_sample_labels,
            });
        }
        let (group, span_id) = groups.classify(sample, strings, limits)?;
        symbols.stack(&sample.location_id, &mut stack)?;
        acc.add(group, &stack, span_id, &sample.value)?;
    }

    let frames = Arc::new(symbols.into_frames());
    let mut out = Vec::new();
    for (t, profile_type) in types.iter().enumerate() {
        let mut per_group = acc.samples_of_type(t, groups.sets.len());
        for (g, lifted) in groups.sets.iter().enumerate() {
            let mut labels = Labels::new(base.iter().cloned());
            for l in lifted {
                labels.set(l.name.as_str(), l.value.as_str());
            }
            let (labels, profile_type) = finish_series(labels, profile_type, limits)?;
            let samples = std::mem::take(&mut per_group[g]);
            if samples.is_empty() {
                continue;
            }
            out.push(NormalizedProfile {
                labels,
                profile_type,
                time_nanos: profile.time_nanos,
                duration_nanos: profile.duration_nanos,
                period: profile.period,
                profile_id: profile_id.to_string(),
                frames: Arc::clone(&frames),
                samples,
            });
        }
    }
    Ok(out)
}

/// The profile type of each sample type, with an empty `name` (it comes
/// from the series' `__name__`) and empty period parts when absent.
fn profile_types(profile: &Profile, strings: Strings<'_>) -> Result<Vec<ProfileType>, ModelError> {
    let (period_type, period_unit) = match &profile.period_type {
        Some(vt) => (strings.get(vt.r#type)?, strings.get(vt.unit)?),
        None => ("", ""),
    };
    profile
        .sample_type
        .iter()
        .map(|vt| {
            Ok(ProfileType {
                name: String::new(),
                sample_type: strings.get(vt.r#type)?.to_string(),
                sample_unit: strings.get(vt.unit)?.to_string(),
                period_type: period_type.to_string(),
                period_unit: period_unit.to_string(),
            })
        })
        .collect()
}

/// The distinct sets of lifted sample labels; set 0 is "no labels".
struct LabelGroups {
    sets: Vec<Vec<Label>>,
    index: HashMap<Vec<Label>, u32>,
}

impl Default for LabelGroups {
    fn default() -> Self {
        let mut index = HashMap::default();
        index.insert(Vec::new(), 0);
        Self {
            sets: vec![Vec::new()],
            index,
        }
    }
}

impl LabelGroups {
    /// The label group and span id of `sample`.
    fn classify(
        &mut self,
        sample: &PprofSample,
        strings: Strings<'_>,
        limits: &NormalizeLimits,
    ) -> Result<(u32, u64), ModelError> {
        let mut span_id = 0;
        let mut pairs = Vec::new();
        for label in &sample.label {
            let key = strings.get(label.key)?;
            if label.str == 0 {
                // Numeric label (or an empty string one): validated, then kept apart.
                strings.get(label.num_unit)?;
                continue;
            }
            let value = strings.get(label.str)?;
            match key {
                SPAN_ID => span_id = parse_span_id(value),
                PROFILE_ID => {}
                _ if key.starts_with("__") => {}
                _ => pairs.push((key, value)),
            }
        }
        if pairs.is_empty() {
            return Ok((0, span_id));
        }
        let set = sanitize_labels(pairs, limits)?;
        if let Some(&g) = self.index.get(&set) {
            return Ok((g, span_id));
        }
        let g = self.sets.len() as u32;
        self.sets.push(set.clone());
        self.index.insert(set, g);
        Ok((g, span_id))
    }
}

/// A span id is 16 hex characters; anything else is treated as absent (0).
fn parse_span_id(value: &str) -> u64 {
    if value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        u64::from_str_radix(value, 16).unwrap_or(0)
    } else {
        0
    }
}

/// Sums sample values per (label group, stack, span id) for all sample
/// types at once, so a stack shared by every type is hashed once.
struct Accumulator {
    types: usize,
    stack_ids: HashMap<Vec<u32>, u32>,
    stacks: Vec<Vec<u32>>,
    keys: HashMap<(u32, u32, u64), usize>,
    entries: Vec<(u32, u32, u64)>,
    /// `types` values per entry.
    values: Vec<i64>,
}

impl Accumulator {
    fn new(types: usize) -> Self {
        Self {
            types,
            stack_ids: HashMap::default(),
            stacks: Vec::new(),
            keys: HashMap::default(),
            entries: Vec::new(),
            values: Vec::new(),
        }
    }

    fn add(
        &mut self,
        group: u32,
        stack: &[u32],
        span_id: u64,
        values: &[i64],
    ) -> Result<(), ModelError> {
        let stack_id = match self.stack_ids.get(stack) {
            Some(&id) => id,
            None => {
                let id = self.stacks.len() as u32;
                self.stacks.push(stack.to_vec());
                self.stack_ids.insert(stack.to_vec(), id);
                id
            }
        };
        let key = (group, stack_id, span_id);
        let entry = *self.keys.entry(key).or_insert_with(|| {
            self.entries.push(key);
            self.values.extend(std::iter::repeat_n(0, self.types));
            self.entries.len() - 1
        });
        let sums = &mut self.values[entry * self.types..(entry + 1) * self.types];
        for (sum, &v) in sums.iter_mut().zip(values) {
            *sum = sum.checked_add(v).ok_or_else(|| {
                ModelError::InvalidProfile("sum of sample values overflows".into())
            })?;
        }
        Ok(())
    }

    /// The non-zero samples of sample type `t`, bucketed by label group.
    fn samples_of_type(&self, t: usize, groups: usize) -> Vec<Vec<Sample>> {
        let mut out = vec![Vec::new(); groups];
        for (i, &(group, stack_id, span_id)) in self.entries.iter().enumerate() {
            let value = self.values[i * self.types + t];
            if value != 0 {
                out[group as usize].push(Sample {
                    stack: self.stacks[stack_id as usize].clone(),
                    value,
                    span_id,
                });
            }
        }
        out
    }
}
