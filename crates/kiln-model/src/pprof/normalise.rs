//! Validation and normalisation of a decoded pprof into per-series profiles.

use super::decode::decompress_if_gzip;
use super::series::{finish_series, sanitize_labels};
use super::symbols::{Strings, Symbols};
use super::view::{LabelRef, ProfileView};
use super::wire;
use crate::error::ModelError;
use crate::labels::names::{PROFILE_ID, SPAN_ID};
use crate::labels::{Label, Labels};
use crate::limits::{NormalizeLimits, exceeds};
use crate::profile::{NormalizedProfile, Sample};
use crate::profile_type::ProfileType;
use foldhash::HashMap;
use kiln_proto::google::v1::Profile;
use prost::Message;
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
    normalise_view(
        &ProfileView::from_profile(profile),
        series_labels,
        profile_id,
        limits,
    )
}

/// [`super::decode`] then [`normalise`], with the same results and errors,
/// but decoding the wire format straight into borrowed flat tables instead
/// of a prost [`Profile`] (about half the cost of ingesting a small pprof).
/// Encodings the fast decoder does not handle go through prost.
pub fn decode_and_normalise(
    bytes: &[u8],
    series_labels: &Labels,
    profile_id: &str,
    limits: &NormalizeLimits,
) -> Result<Vec<NormalizedProfile>, ModelError> {
    let raw = decompress_if_gzip(bytes, limits.max_decompressed_bytes)?;
    match wire::decode(&raw) {
        Some(view) => normalise_view(&view, series_labels, profile_id, limits),
        None => {
            let profile =
                Profile::decode(raw.as_ref()).map_err(|e| ModelError::Protobuf(e.to_string()))?;
            normalise(&profile, series_labels, profile_id, limits)
        }
    }
}

fn normalise_view(
    profile: &ProfileView<'_>,
    series_labels: &Labels,
    profile_id: &str,
    limits: &NormalizeLimits,
) -> Result<Vec<NormalizedProfile>, ModelError> {
    if profile.sample_types.is_empty() {
        return Err(ModelError::EmptyProfile);
    }
    if exceeds(limits.max_samples, profile.samples.len()) {
        return Err(ModelError::TooManySamples {
            got: profile.samples.len(),
            limit: limits.max_samples,
        });
    }
    let strings = Strings::new(&profile.strings);
    let types = profile_types(profile, strings)?;
    let base = sanitize_labels(
        series_labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str())),
        limits,
    )?;

    let mut symbols = Symbols::new(profile, limits)?;
    let mut groups = LabelGroups::default();
    let mut acc = Accumulator::new(types.len(), profile.samples.len());
    let mut stack = Vec::new();
    for sample in &profile.samples {
        let values = &profile.values[sample.values.clone()];
        let labels = &profile.labels[sample.labels.clone()];
        if values.len() != types.len() {
            return Err(ModelError::SampleValueCount {
                got: values.len(),
                want: types.len(),
            });
        }
        if exceeds(limits.max_sample_labels, labels.len()) {
            return Err(ModelError::TooManySampleLabels {
                got: labels.len(),
                limit: limits.max_sample_labels,
            });
        }
        let (group, span_id) = groups.classify(labels, strings, limits)?;
        symbols.stack(
            &profile.location_ids[sample.location_ids.clone()],
            &mut stack,
        )?;
        acc.add(group, &stack, span_id, values)?;
    }

    let frames = Arc::new(symbols.into_frames());
    let mut out = Vec::new();
    let samples = acc.into_samples(groups.sets.len());
    for (profile_type, mut per_group) in types.iter().zip(samples) {
        for (g, lifted) in groups.sets.iter().enumerate() {
            // Room for the lifted labels and the up to 8 derived ones.
            let mut labels = Labels::from_sorted(&base, lifted.len() + 8);
            for l in lifted {
                labels.set_borrowed(&l.name, l.value.as_str());
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
fn profile_types(
    profile: &ProfileView<'_>,
    strings: Strings<'_>,
) -> Result<Vec<ProfileType>, ModelError> {
    let (period_type, period_unit) = match profile.period_type {
        Some((ty, unit)) => (strings.get(ty)?, strings.get(unit)?),
        None => ("", ""),
    };
    profile
        .sample_types
        .iter()
        .map(|&(ty, unit)| {
            Ok(ProfileType {
                name: String::new(),
                sample_type: strings.get(ty)?.to_string(),
                sample_unit: strings.get(unit)?.to_string(),
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
        labels: &[LabelRef],
        strings: Strings<'_>,
        limits: &NormalizeLimits,
    ) -> Result<(u32, u64), ModelError> {
        let mut span_id = 0;
        let mut pairs = Vec::new();
        for label in labels {
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
    /// Distinct stacks, each stored once (the key) with its id.
    stack_ids: HashMap<Vec<u32>, u32>,
    /// Per stack id: its entry for group 0 without span id (the common
    /// case, looked up without hashing), or `NO_ENTRY`.
    plain_entry: Vec<u32>,
    keys: HashMap<(u32, u32, u64), u32>,
    entries: Vec<(u32, u32, u64)>,
    /// `types` values per entry.
    values: Vec<i64>,
}

const NO_ENTRY: u32 = u32::MAX;

impl Accumulator {
    fn new(types: usize, samples: usize) -> Self {
        Self {
            types,
            stack_ids: HashMap::with_capacity_and_hasher(samples, Default::default()),
            plain_entry: Vec::with_capacity(samples),
            keys: HashMap::default(),
            entries: Vec::with_capacity(samples),
            values: Vec::with_capacity(samples * types),
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
                let id = self.plain_entry.len() as u32;
                self.stack_ids.insert(stack.to_vec(), id);
                self.plain_entry.push(NO_ENTRY);
                id
            }
        };
        let key = (group, stack_id, span_id);
        let entry = if group == 0 && span_id == 0 {
            match self.plain_entry[stack_id as usize] {
                NO_ENTRY => {
                    let entry = self.push_entry(key);
                    self.plain_entry[stack_id as usize] = entry;
                    entry
                }
                entry => entry,
            }
        } else {
            match self.keys.get(&key) {
                Some(&entry) => entry,
                None => {
                    let entry = self.push_entry(key);
                    self.keys.insert(key, entry);
                    entry
                }
            }
        } as usize;
        let sums = &mut self.values[entry * self.types..(entry + 1) * self.types];
        for (sum, &v) in sums.iter_mut().zip(values) {
            *sum = sum.checked_add(v).ok_or_else(|| {
                ModelError::InvalidProfile("sum of sample values overflows".into())
            })?;
        }
        Ok(())
    }

    fn push_entry(&mut self, key: (u32, u32, u64)) -> u32 {
        self.entries.push(key);
        self.values.extend(std::iter::repeat_n(0, self.types));
        self.entries.len() as u32 - 1
    }

    /// The non-zero samples of every sample type, bucketed by label group:
    /// `out[type][group]`, in first-appearance order. Each stack is moved
    /// into its last sample and cloned only for the others.
    fn into_samples(self, groups: usize) -> Vec<Vec<Vec<Sample>>> {
        let mut stacks = vec![Vec::new(); self.plain_entry.len()];
        for (stack, id) in self.stack_ids {
            stacks[id as usize] = stack;
        }
        let nonzero = |i: usize, t: usize| self.values[i * self.types + t] != 0;
        let mut uses = vec![0u32; stacks.len()];
        let mut counts = vec![vec![0usize; groups]; self.types];
        for (i, &(group, stack_id, _)) in self.entries.iter().enumerate() {
            for (t, counts) in counts.iter_mut().enumerate() {
                if nonzero(i, t) {
                    uses[stack_id as usize] += 1;
                    counts[group as usize] += 1;
                }
            }
        }
        let mut out: Vec<Vec<Vec<Sample>>> = counts
            .iter()
            .map(|c| c.iter().map(|&n| Vec::with_capacity(n)).collect())
            .collect();
        for (t, per_group) in out.iter_mut().enumerate() {
            for (i, &(group, stack_id, span_id)) in self.entries.iter().enumerate() {
                let value = self.values[i * self.types + t];
                if value == 0 {
                    continue;
                }
                let s = stack_id as usize;
                uses[s] -= 1;
                let stack = if uses[s] == 0 {
                    std::mem::take(&mut stacks[s])
                } else {
                    stacks[s].clone()
                };
                per_group[group as usize].push(Sample {
                    stack,
                    value,
                    span_id,
                });
            }
        }
        out
    }
}
