//! The legacy `/ingest` `name` parameter: `app.suffix{k=v,…}` (spec §5).

use crate::error::ModelError;
use crate::labels::Label;
use crate::profile_type::ProfileType;

/// What a known type suffix stands for: `__name__`, sample type and unit,
/// and whether counts are samples to scale into nanoseconds.
struct SuffixType {
    name: &'static str,
    sample_type: &'static str,
    sample_unit: &'static str,
    cpu_period: bool,
}

const fn t(name: &'static str, sample_type: &'static str, unit: &'static str) -> SuffixType {
    SuffixType {
        name,
        sample_type,
        sample_unit: unit,
        cpu_period: false,
    }
}

/// The suffix table of spec §5 (`ingest_adapter.go` `convertMetadata`).
/// Sampled types (`cpu`, `itimer`, `wall`) are stored in nanoseconds with a
/// `cpu/nanoseconds` period.
fn suffix_type(suffix: &str) -> Option<SuffixType> {
    let scaled = |name, sample_type| SuffixType {
        name,
        sample_type,
        sample_unit: "nanoseconds",
        cpu_period: true,
    };
    Some(match suffix {
        "cpu" | "itimer" => scaled("process_cpu", "cpu"),
        "wall" => scaled("wall", "wall"),
        "inuse_objects" => t("memory", "inuse_objects", "count"),
        "alloc_objects" => t("memory", "alloc_objects", "count"),
        "inuse_space" => t("memory", "inuse_space", "bytes"),
        "alloc_space" => t("memory", "alloc_space", "bytes"),
        "goroutines" => t("goroutine", "goroutines", "count"),
        "mutex_count" => t("mutex", "contentions", "count"),
        "mutex_duration" => t("mutex", "delay", "nanoseconds"),
        "block_count" | "lock_count" => t("block", "contentions", "count"),
        "block_duration" | "lock_duration" => t("block", "delay", "nanoseconds"),
        "alloc_in_new_tlab_objects" => t("memory", "alloc_in_new_tlab_objects", "count"),
        "alloc_in_new_tlab_bytes" => t("memory", "alloc_in_new_tlab_bytes", "bytes"),
        "alloc_outside_tlab_objects" => t("memory", "alloc_outside_tlab_objects", "count"),
        "alloc_outside_tlab_bytes" => t("memory", "alloc_outside_tlab_bytes", "bytes"),
        "live" => t("memory", "live", "count"),
        "exceptions" => t("exceptions", "samples", "count"),
        "seconds" | "nanoseconds" | "microseconds" | "milliseconds" => {
            t("wall", "samples", "count")
        }
        "bytes" => t("memory", "samples", "bytes"),
        _ => return None,
    })
}

/// Splits a text-format app name into its service name and profile type.
///
/// The last `.`-separated part is the type suffix (`probe.rustlegacy.cpu` →
/// service `probe.rustlegacy`, `process_cpu:cpu:nanoseconds:cpu:nanoseconds`);
/// a name without a dot is CPU. An unknown suffix is
/// [`ModelError::UnknownProfileType`] (HTTP 422 upstream).
///
/// The flag says the body's values are *sample counts* that the caller must
/// multiply by the period `1e9 / sampleRate` to get the returned nanosecond
/// type. With `sampleRate=0` there is no period: the caller should then
/// store the counts unscaled as `<name>:samples:count::` instead.
pub fn legacy_profile_type(app_name: &str) -> Result<(String, ProfileType, bool), ModelError> {
    let (service, suffix) = match app_name.rsplit_once('.') {
        Some((service, suffix)) => (service, suffix),
        None => (app_name, "cpu"),
    };
    let st = suffix_type(suffix).ok_or_else(|| ModelError::UnknownProfileType(app_name.into()))?;
    let (period_type, period_unit) = if st.cpu_period {
        ("cpu", "nanoseconds")
    } else {
        ("", "")
    };
    let profile_type = ProfileType {
        name: st.name.into(),
        sample_type: st.sample_type.into(),
        sample_unit: st.sample_unit.into(),
        period_type: period_type.into(),
        period_unit: period_unit.into(),
    };
    Ok((service.to_string(), profile_type, st.cpu_period))
}

/// Parses the `/ingest` `name` parameter `app{k=v,k2=v2}` into the app name
/// and its labels, in the order given (duplicates included: the caller
/// decides, and `Labels::new` keeps the last).
///
/// Keys and values are trimmed; `{}` and a missing brace part give no labels.
/// Label names are *not* validated here: reserved `__x__` keys must reach
/// the caller, which drops all but `__session_id__`. An empty app name, a
/// pair without `=` or with an empty key, an unclosed brace, or text after
/// the closing brace is [`ModelError::InvalidLabels`].
pub fn parse_legacy_name(name: &str) -> Result<(String, Vec<Label>), ModelError> {
    let invalid = |reason: &str| ModelError::InvalidLabels(format!("{reason} in name {name:?}"));
    let (app, rest) = match name.find('{') {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    let app = app.trim();
    if app.is_empty() {
        return Err(invalid("empty application name"));
    }
    if app.contains('}') {
        return Err(invalid("unexpected '}'"));
    }
    let mut labels = Vec::new();
    if let Some(rest) = rest {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| invalid("missing closing '}'"))?;
        if inner.contains(['{', '}']) {
            return Err(invalid("unexpected brace"));
        }
        for pair in inner.split(',') {
            if pair.trim().is_empty() {
                continue;
            }
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid("label without '='"))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(invalid("empty label name"));
            }
            labels.push(Label::new(key, value.trim()));
        }
    }
    Ok((app.to_string(), labels))
}
