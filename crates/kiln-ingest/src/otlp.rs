//! OTLP profiles (`v1development`) ─► normalised profiles (spec §10).
//!
//! ```text
//!  ExportProfilesServiceRequest
//!    └─ ResourceProfiles (resource attributes, service.name)
//!        └─ ScopeProfiles (scope attributes)
//!            └─ Profile ─► group samples by their `service.name` attribute
//!                          ─► one pprof per (profile, service)   (builder.rs)
//!                          ─► pprof::normalise with the series labels
//! ```
//!
//! Each OTLP profile becomes, per service, the pprof Pyroscope would have
//! built from it, and then goes through exactly the validation and
//! normalisation a pushed pprof does (limits, sample labels, stack depth,
//! relabel rules). Series labels, in order of precedence (first wins):
//!
//! * `__delta__="false"` (the profile is already a delta, like
//!   `godeltaprof`; stored as a label as the push path does),
//!   `__otel__="true"` and `__name__` (see [`profile_name`]);
//! * resource attributes, then scope attributes, with string values only
//!   (dots in names become underscores, as for every client label);
//! * `service_name`: the samples' `service.name` attribute, else the
//!   resource's, else `unknown_service:<process.executable.name>`, else
//!   `unknown_service`.
//!
//! Sample attributes with string values become pprof sample labels (so they
//! split series like pprof's dynamic tags); a sample's link contributes its
//! span id. Values of one sample are summed: with a single sample type,
//! `values` and `timestamps_unix_nano` describe individual events, and a
//! sample with timestamps only counts one per event.

mod builder;

use std::collections::HashMap;

use kiln_model::Labels;
use kiln_model::labels::names;
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, pprof};
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use kiln_proto::opentelemetry::proto::common::v1::{KeyValue, any_value};
use kiln_proto::opentelemetry::proto::profiles::v1development::{Profile, ProfilesDictionary};
use prost::Message;

use crate::error::IngestError;
use crate::push::{DecodedPush, new_profile_id};
use builder::PprofBuilder;

/// Resource and sample attribute naming the service.
const SERVICE_NAME_ATTR: &str = "service.name";
/// Resource attribute used for the `unknown_service:<name>` fallback.
const EXECUTABLE_NAME_ATTR: &str = "process.executable.name";
/// Label marking profiles that came in over OTLP.
const OTEL_LABEL: &str = "__otel__";
/// Profile type Pyroscope rewrites to `process_cpu` with values in nanoseconds.
const SAMPLES_AS_CPU: &str = "samples:count:cpu:nanoseconds";
/// Profile type of the eBPF profiler's off-CPU profiles.
const OFF_CPU: &str = "off_cpu:nanoseconds::";

/// Converts one export request. CPU-heavy: run it off the I/O threads.
/// Profiles without a timestamp get `now_ns`.
pub fn convert_export(
    request: &ExportProfilesServiceRequest,
    limits: &NormalizeLimits,
    now_ns: i64,
) -> Result<DecodedPush, IngestError> {
    let dictionary = request.dictionary.as_ref().ok_or_else(|| {
        IngestError::InvalidArgument("missing profile metadata dictionary".into())
    })?;
    if request.resource_profiles.is_empty() {
        return Err(IngestError::InvalidArgument(
            "missing resource profiles".into(),
        ));
    }
    if dictionary
        .string_table
        .first()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(IngestError::InvalidArgument(
            "invalid dictionary: string_table[0] must be the empty string".into(),
        ));
    }
    let mut decoded = DecodedPush::default();
    for resource_profiles in &request.resource_profiles {
        let resource_attrs: &[KeyValue] = resource_profiles
            .resource
            .as_ref()
            .map_or(&[], |r| r.attributes.as_slice());
        let resource_service = service_name_of(resource_attrs);
        for scope_profiles in &resource_profiles.scope_profiles {
            let scope_attrs: &[KeyValue] = scope_profiles
                .scope
                .as_ref()
                .map_or(&[], |s| s.attributes.as_slice());
            for profile in &scope_profiles.profiles {
                let context = ProfileContext {
                    dictionary,
                    resource_attrs,
                    scope_attrs,
                    resource_service: &resource_service,
                    limits,
                    now_ns,
                };
                let profiles = context.convert(profile)?;
                if !profiles.is_empty() {
                    decoded.decompressed_bytes += profile.encoded_len();
                }
                decoded.profiles.extend(profiles);
            }
        }
    }
    Ok(decoded)
}

/// The service name of a resource: `service.name`, else
/// `unknown_service[:<process.executable.name>]`.
fn service_name_of(attrs: &[KeyValue]) -> String {
    if let Some(name) = string_attr(attrs, SERVICE_NAME_ATTR) {
        return name.to_string();
    }
    match string_attr(attrs, EXECUTABLE_NAME_ATTR) {
        Some(exe) => format!("{}:{exe}", names::SERVICE_NAME_FALLBACK),
        None => names::SERVICE_NAME_FALLBACK.to_string(),
    }
}

/// The non-empty string value of attribute `key`.
fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .filter(|a| a.key == key)
        .find_map(|a| string_value(a.value.as_ref()?.value.as_ref()))
}

/// A non-empty string attribute value; other kinds are not labels.
fn string_value(value: Option<&any_value::Value>) -> Option<&str> {
    match value {
        Some(any_value::Value::StringValue(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// How a profile's type maps to Pyroscope: its `__name__` and whether its
/// values (sample counts) are scaled by the period into nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileName {
    pub name: String,
    pub samples_to_nanos: bool,
}

/// `__name__` from the profile-type string `type:unit:period_type:period_unit`
/// (spec §10): `process_cpu` for sample counts of a CPU period (values are
/// then scaled to nanoseconds), `off_cpu` for off-CPU time, otherwise the
/// period type (`wall:…:cpu:…` → `cpu`), and `process_cpu` as the last guess.
pub(crate) fn profile_name(profile_type: &str) -> ProfileName {
    if profile_type == SAMPLES_AS_CPU {
        return ProfileName {
            name: "process_cpu".into(),
            samples_to_nanos: true,
        };
    }
    let name = if profile_type == OFF_CPU {
        "off_cpu"
    } else {
        profile_type
            .split(':')
            .nth(2)
            .filter(|s| !s.is_empty())
            .unwrap_or("process_cpu")
    };
    ProfileName {
        name: name.to_string(),
        samples_to_nanos: false,
    }
}

/// What one profile's conversion needs from around it.
struct ProfileContext<'a> {
    dictionary: &'a ProfilesDictionary,
    resource_attrs: &'a [KeyValue],
    scope_attrs: &'a [KeyValue],
    resource_service: &'a str,
    limits: &'a NormalizeLimits,
    now_ns: i64,
}

impl ProfileContext<'_> {
    /// One pprof per service among the samples, each normalised.
    fn convert(
        &self,
        profile: &Profile,
    ) -> Result<Vec<kiln_model::NormalizedProfile>, IngestError> {
        let dict = self.dictionary;
        // Group samples by their own service.name ("" = the resource's),
        // keeping first-appearance order so output is deterministic.
        let mut groups: Vec<(String, PprofBuilder<'_>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, sample) in profile.samples.iter().enumerate() {
            let service = builder::sample_service(dict, sample)
                .map_err(|e| invalid(format!("sample {i}: {e}")))?
                .unwrap_or_default();
            let g = match index.get(&service) {
                Some(&g) => g,
                None => {
                    let b = PprofBuilder::new(dict, profile, self.now_ns).map_err(invalid)?;
                    groups.push((service.clone(), b));
                    index.insert(service, groups.len() - 1);
                    groups.len() - 1
                }
            };
            groups[g]
                .1
                .add_sample(sample)
                .map_err(|e| invalid(format!("sample {i}: {e}")))?;
        }
        let mut out = Vec::new();
        for (service, builder) in groups {
            let service = if service.is_empty() {
                self.resource_service
            } else {
                service.as_str()
            };
            let name = builder.name().to_string();
            let labels = self.labels(&name, service)?;
            let pprof_profile = builder.finish();
            let profiles =
                pprof::normalise(&pprof_profile, &labels, &new_profile_id(), self.limits)?;
            out.extend(profiles);
        }
        Ok(out)
    }

    /// The series labels of one (profile, service), see the module docs.
    fn labels(&self, name: &str, service: &str) -> Result<Labels, IngestError> {
        let mut seen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut push = |key: &str, value: &str| -> Result<(), IngestError> {
            let sanitized = pprof::sanitize_label_name(key, self.limits)?.into_owned();
            if !seen.contains(&sanitized) {
                seen.push(sanitized.clone());
                out.push(Label::new(sanitized, value));
            }
            Ok(())
        };
        push(names::DELTA, "false")?;
        push(OTEL_LABEL, "true")?;
        push(names::METRIC_NAME, name)?;
        push(names::SERVICE_NAME, service)?;
        for attr in self.resource_attrs.iter().chain(self.scope_attrs) {
            if attr.key == SERVICE_NAME_ATTR {
                continue;
            }
            if let Some(value) = string_value(attr.value.as_ref().and_then(|v| v.value.as_ref())) {
                push(&attr.key, value)?;
            }
        }
        Ok(Labels::new(out))
    }
}

fn invalid(message: impl std::fmt::Display) -> IngestError {
    IngestError::InvalidArgument(format!("invalid otlp profile: {message}"))
}

#[cfg(test)]
mod tests;
