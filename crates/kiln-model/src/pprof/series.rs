//! Series labels: name sanitisation, default relabel rules, validation and
//! the derived `__type__`/`__profile_type__`/… labels (spec §1).

use crate::error::ModelError;
use crate::labels::names::{
    DELTA, METRIC_NAME, PERIOD_TYPE, PERIOD_UNIT, PRIVATE_SERVICE_NAME, PROFILE_TYPE, SERVICE_NAME,
    SERVICE_NAME_FALLBACK, TYPE, UNIT,
};
use crate::labels::{Label, Labels};
use crate::limits::{NormalizeLimits, exceeds};
use crate::profile_type::ProfileType;
use std::borrow::Cow;

/// Labels the server derives for every series; a client's copy is overwritten,
/// and they do not count against `max_label_names` (Pyroscope validates the
/// client's labels before adding them).
const DERIVED: [&str; 6] = [
    TYPE,
    UNIT,
    PERIOD_TYPE,
    PERIOD_UNIT,
    PRIVATE_SERVICE_NAME,
    PROFILE_TYPE,
];

/// Prefix stripped by the first default relabel rule.
const GODELTAPROF_PREFIX: &str = "godeltaprof_";

/// Checks and sanitises one label name the way Pyroscope v1.21.1 does by
/// default: dots become underscores (several agents send `otel.scope.name`),
/// then the name must be a legacy Prometheus name `[a-zA-Z_][a-zA-Z0-9_]*`
/// no longer than `limits.max_label_name_len` bytes.
pub fn sanitize_label_name<'a>(
    name: &'a str,
    limits: &NormalizeLimits,
) -> Result<Cow<'a, str>, ModelError> {
    if exceeds(limits.max_label_name_len, name.len()) {
        return Err(ModelError::InvalidLabels(format!(
            "label name {name:?} is {} bytes long, more than the limit of {}",
            name.len(),
            limits.max_label_name_len
        )));
    }
    let sanitized = if name.contains('.') {
        Cow::Owned(name.replace('.', "_"))
    } else {
        Cow::Borrowed(name)
    };
    let mut bytes = sanitized.bytes();
    let legal = match bytes.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    };
    if !legal {
        return Err(ModelError::InvalidLabels(format!(
            "invalid label name {name:?}"
        )));
    }
    Ok(sanitized)
}

/// Sanitises a list of name/value pairs into a label set.
///
/// Empty values are dropped (an empty value means "absent", as in
/// Prometheus), derived names are dropped (the server sets them), values are
/// checked against `max_label_value_len`, and two names that are equal after
/// sanitisation (`a.b` and `a_b`) are rejected as duplicates.
pub(crate) fn sanitize_labels<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    limits: &NormalizeLimits,
) -> Result<Vec<Label>, ModelError> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        if value.is_empty() || DERIVED.contains(&name) {
            continue;
        }
        let name = sanitize_label_name(name, limits)?;
        if exceeds(limits.max_label_value_len, value.len()) {
            return Err(ModelError::InvalidLabels(format!(
                "value of label {name:?} is {} bytes long, more than the limit of {}",
                value.len(),
                limits.max_label_value_len
            )));
        }
        out.push(Label::new(name, value));
    }
    out.sort();
    if let Some(pair) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ModelError::InvalidLabels(format!(
            "duplicate label name {:?}",
            pair[0].name
        )));
    }
    Ok(out)
}

/// Builds the final label set of one series from a client's labels and the
/// series' profile type, exactly as Pyroscope's push path does (spec §1):
///
/// 1. label names are sanitised and checked ([`sanitize_label_name`]);
/// 2. `__name__` is `profile_type.name` when that is non-empty, else the
///    client's `__name__` (pprof pushes name the profile in the labels);
/// 3. a missing `service_name` becomes `unknown_service`;
/// 4. default relabel rules: `godeltaprof_X` → `X` with `__delta__="false"`,
///    and `__name__="wall"` with sample type `cpu` → `process_cpu`;
/// 5. `__name__` must be non-empty ("invalid metric name") and the series
///    may carry at most `max_label_names` labels (derived ones excluded);
/// 6. `__type__`, `__unit__`, `__period_type__`, `__period_unit__`,
///    `__service_name__` and `__profile_type__` are added.
///
/// Returns the labels and the profile type after relabelling.
pub fn build_series_labels(
    labels: &Labels,
    profile_type: &ProfileType,
    limits: &NormalizeLimits,
) -> Result<(Labels, ProfileType), ModelError> {
    let base = sanitize_labels(
        labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
        limits,
    )?;
    finish_series(Labels::new(base), profile_type, limits)
}

/// Steps 2–6 of [`build_series_labels`] on labels that are already sanitised.
pub(crate) fn finish_series(
    mut labels: Labels,
    profile_type: &ProfileType,
    limits: &NormalizeLimits,
) -> Result<(Labels, ProfileType), ModelError> {
    if !profile_type.name.is_empty() {
        labels.set_borrowed(METRIC_NAME, profile_type.name.as_str());
    }
    if labels.get(SERVICE_NAME).is_none_or(str::is_empty) {
        labels.set_borrowed(SERVICE_NAME, SERVICE_NAME_FALLBACK);
    }
    relabel(&mut labels, &profile_type.sample_type);

    let name = labels.get(METRIC_NAME).unwrap_or_default();
    if name.is_empty() {
        return Err(ModelError::InvalidLabels(format!(
            "invalid metric name {name:?}: the __name__ label (the profile name, \
             e.g. process_cpu or memory) is missing or empty"
        )));
    }
    if exceeds(limits.max_label_names, labels.len()) {
        return Err(ModelError::InvalidLabels(format!(
            "series of service {:?} has {} label names, more than the limit of {}",
            labels.get(SERVICE_NAME).unwrap_or_default(),
            labels.len(),
            limits.max_label_names
        )));
    }
    let final_type = ProfileType {
        name: name.to_string(),
        sample_type: profile_type.sample_type.clone(),
        sample_unit: profile_type.sample_unit.clone(),
        period_type: profile_type.period_type.clone(),
        period_unit: profile_type.period_unit.clone(),
    };
    Ok((with_derived_labels(labels, &final_type), final_type))
}

/// Pyroscope's default ingestion relabel rules (`v1:pkg/validation/relabeling.go`).
fn relabel(labels: &mut Labels, sample_type: &str) {
    let Some(name) = labels.get(METRIC_NAME) else {
        return;
    };
    if let Some(stripped) = name.strip_prefix(GODELTAPROF_PREFIX) {
        let stripped = stripped.to_string();
        labels.set_borrowed(METRIC_NAME, stripped);
        labels.set_borrowed(DELTA, "false");
    }
    if labels.get(METRIC_NAME) == Some("wall") && sample_type == "cpu" {
        labels.set_borrowed(METRIC_NAME, "process_cpu");
    }
}

/// Adds the labels every stored series carries: `__name__` and the derived
/// ones from `profile_type`, plus the `service_name` fallback. Infallible so
/// that text-format ingestion can use it after validating separately.
pub(crate) fn with_derived_labels(mut labels: Labels, profile_type: &ProfileType) -> Labels {
    if labels.get(SERVICE_NAME).is_none_or(str::is_empty) {
        labels.set_borrowed(SERVICE_NAME, SERVICE_NAME_FALLBACK);
    }
    let service = labels.get(SERVICE_NAME).unwrap_or_default().to_string();
    labels.set_borrowed(METRIC_NAME, profile_type.name.as_str());
    labels.set_borrowed(TYPE, profile_type.sample_type.as_str());
    labels.set_borrowed(UNIT, profile_type.sample_unit.as_str());
    labels.set_borrowed(PERIOD_TYPE, profile_type.period_type.as_str());
    labels.set_borrowed(PERIOD_UNIT, profile_type.period_unit.as_str());
    labels.set_borrowed(PRIVATE_SERVICE_NAME, service);
    labels.set_borrowed(PROFILE_TYPE, profile_type.id());
    labels
}
