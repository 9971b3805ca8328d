//! Legacy `/ingest` text formats (spec §5): `folded` and `lines` bodies,
//! and the app-name conventions (`app.cpu{k=v}`) that give them a profile type.
//!
//! ```text
//!  body ─► parse_folded / parse_lines ─► [(frames root first, count)]
//!  name ─► parse_legacy_name ─► app + labels ─► legacy_profile_type ─► ProfileType
//!       ─► profile_from_stacks ─► NormalizedProfile
//! ```

mod legacy;

pub use legacy::{legacy_profile_type, parse_legacy_name};

use crate::error::ModelError;
use crate::labels::Labels;
use crate::limits::{NormalizeLimits, truncate_at_char_boundary};
use crate::profile::{Frame, NormalizedProfile, Sample};
use crate::profile_type::ProfileType;
use foldhash::HashMap;
use std::sync::Arc;

/// Stacks as the text parsers produce them: frames root first, with a count.
pub type TextStacks = Vec<(Vec<String>, i64)>;

/// Frame separator of both text formats.
const SEPARATOR: char = ';';

/// Parses a `folded` body: one `root;…;leaf <count>` per line, the count
/// after the *last* space (frames may contain spaces). Blank lines are
/// skipped; duplicate stacks are summed, in first-appearance order.
///
/// A line without a count, with a count that is not a non-negative integer,
/// or with an empty stack is an [`ModelError::InvalidText`] naming the
/// (1-based) line.
pub fn parse_folded(body: &str) -> Result<TextStacks, ModelError> {
    let mut acc = StackSums::default();
    for (i, line) in body.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |reason: &str| ModelError::InvalidText {
            format: "folded",
            line: line_no,
            reason: reason.to_string(),
        };
        let (stack, count) = line
            .rsplit_once(' ')
            .ok_or_else(|| err("missing sample count"))?;
        let count: i64 = count
            .parse()
            .map_err(|_| err(&format!("invalid sample count {count:?}")))?;
        if count < 0 {
            return Err(err(&format!("negative sample count {count}")));
        }
        if stack.is_empty() {
            return Err(err("empty stack"));
        }
        acc.add(stack, count)
            .ok_or_else(|| err("sum of sample counts overflows"))?;
    }
    Ok(acc.into_stacks())
}

/// Parses a `lines` body: one `root;…;leaf` stack per line, each line one
/// sample, so identical lines are counted. Blank lines are skipped. Cannot fail.
pub fn parse_lines(body: &str) -> TextStacks {
    let mut acc = StackSums::default();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // A body of at most a few MiB cannot reach i64::MAX lines.
        let _ = acc.add(line, 1);
    }
    acc.into_stacks()
}

/// Sums counts per distinct stack text, remembering first appearance.
#[derive(Default)]
struct StackSums<'a> {
    index: HashMap<&'a str, usize>,
    sums: Vec<(&'a str, i64)>,
}

impl<'a> StackSums<'a> {
    /// Adds `count` to `stack`; `None` on overflow.
    fn add(&mut self, stack: &'a str, count: i64) -> Option<()> {
        let next = self.sums.len();
        let i = *self.index.entry(stack).or_insert(next);
        if i == next {
            self.sums.push((stack, 0));
        }
        let sum = &mut self.sums[i].1;
        *sum = sum.checked_add(count)?;
        Some(())
    }

    fn into_stacks(self) -> TextStacks {
        self.sums
            .into_iter()
            .map(|(stack, n)| (stack.split(SEPARATOR).map(str::to_string).collect(), n))
            .collect()
    }
}

/// Builds the normalised profile of a text-format push: a frame table of
/// [`Frame::named`] frames and one sample per distinct (truncated) stack.
///
/// `stacks` are root first, values as stored (scale CPU counts by the period
/// *before* calling, see [`legacy_profile_type`]). Zero sums are dropped.
/// `labels` should already have been checked with
/// [`crate::pprof::build_series_labels`]; this only adds the derived labels
/// (`__name__`, `__profile_type__`, …) from `profile_type` and the
/// `service_name` fallback. Stacks deeper than `limits.max_stack_depth` keep
/// their leaf-most frames and long frame names are truncated, as for pprof.
#[allow(clippy::too_many_arguments)]
pub fn profile_from_stacks(
    stacks: &[(Vec<String>, i64)],
    labels: &Labels,
    profile_type: &ProfileType,
    time_nanos: i64,
    duration_nanos: i64,
    period: i64,
    profile_id: &str,
    limits: &NormalizeLimits,
) -> NormalizedProfile {
    let mut frames: Vec<Frame> = Vec::new();
    let mut frame_ids: HashMap<&str, u32> = HashMap::default();
    let mut sample_ids: HashMap<Vec<u32>, usize> = HashMap::default();
    let mut samples: Vec<Sample> = Vec::new();
    for (stack, value) in stacks {
        let skip = match limits.max_stack_depth {
            0 => 0,
            max => stack.len().saturating_sub(max),
        };
        let ids: Vec<u32> = stack[skip..]
            .iter()
            .map(|name| {
                let name = truncate_at_char_boundary(name, limits.max_symbol_len);
                *frame_ids.entry(name).or_insert_with(|| {
                    frames.push(Frame::named(name));
                    frames.len() as u32 - 1
                })
            })
            .collect();
        match sample_ids.get(&ids) {
            Some(&i) => samples[i].value = samples[i].value.saturating_add(*value),
            None => {
                sample_ids.insert(ids.clone(), samples.len());
                samples.push(Sample {
                    stack: ids,
                    value: *value,
                    span_id: 0,
                });
            }
        }
    }
    samples.retain(|s| s.value != 0);
    NormalizedProfile {
        labels: crate::pprof::with_derived_labels(labels.clone(), profile_type),
        profile_type: profile_type.clone(),
        time_nanos,
        duration_nanos,
        period,
        profile_id: profile_id.to_string(),
        frames: Arc::new(frames),
        samples,
    }
}

#[cfg(test)]
mod tests;
