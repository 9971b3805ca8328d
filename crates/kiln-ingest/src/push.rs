//! `push.v1.PusherService/Push` requests ─► normalised profiles.

use crate::error::IngestError;
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, Labels, NormalizedProfile, pprof};
use kiln_proto::push::v1::PushRequest;

/// The profiles of one push and what they cost.
#[derive(Debug, Default)]
pub struct DecodedPush {
    pub profiles: Vec<NormalizedProfile>,
    /// Decompressed pprof bytes, charged against rate limits and buffers.
    pub decompressed_bytes: usize,
}

/// Decodes and normalises every raw profile of a push. CPU-heavy: call it
/// off the async I/O threads. Profiles without a timestamp get `now_ns`.
pub fn decode_push(
    request: &PushRequest,
    limits: &NormalizeLimits,
    now_ns: i64,
) -> Result<DecodedPush, IngestError> {
    if request.series.iter().all(|s| s.samples.is_empty()) {
        return Err(IngestError::InvalidArgument("no profiles received".into()));
    }
    let mut decoded = DecodedPush::default();
    for series in &request.series {
        let labels = series_labels(&series.labels)?;
        for sample in &series.samples {
            let raw =
                pprof::decompress_if_gzip(&sample.raw_profile, limits.max_decompressed_bytes)?;
            decoded.decompressed_bytes += raw.len();
            let profile_id = new_profile_id();
            let mut profiles = pprof::decode_and_normalise(&raw, &labels, &profile_id, limits)?;
            for p in &mut profiles {
                if p.time_nanos == 0 {
                    p.time_nanos = now_ns;
                }
            }
            decoded.profiles.extend(profiles);
        }
    }
    Ok(decoded)
}

/// Builds a label set from wire pairs, rejecting duplicate names (which a
/// `Labels` would otherwise silently merge).
pub fn series_labels(pairs: &[kiln_proto::types::v1::LabelPair]) -> Result<Labels, IngestError> {
    let mut names: Vec<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(IngestError::InvalidArgument(format!(
            "invalid labels: duplicate label name {:?}",
            w[0]
        )));
    }
    Ok(pairs
        .iter()
        .map(|p| Label::new(p.name.clone(), p.value.clone()))
        .collect())
}

/// A fresh, UUID-shaped profile id. Pyroscope assigns its own ids too; the
/// client's `RawSample.ID` is informational only.
pub fn new_profile_id() -> String {
    let v = ulid::Ulid::generate().0;
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
