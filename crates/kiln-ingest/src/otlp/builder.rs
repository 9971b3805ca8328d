//! Builds the pprof (`google.v1.Profile`) equivalent of the samples of one
//! OTLP profile that belong to one service.
//!
//! OTLP keeps every table in the request's `ProfilesDictionary` and refers
//! to entries by 0-based index; pprof numbers ids from 1 and keeps its own
//! string table. Only the entries the samples reach are copied, so a large
//! shared dictionary costs each profile what it uses. Every index is
//! bounds-checked: a bad one is an error naming the table, never a panic.

use std::collections::HashMap;

use kiln_proto::google::v1 as pb;
use kiln_proto::opentelemetry::proto::profiles::v1development::{
    Profile, ProfilesDictionary, Sample, ValueType,
};

use super::{SERVICE_NAME_ATTR, profile_name, string_value};

/// Pyroscope's duration for OTLP profiles that carry none.
const DEFAULT_DURATION_NS: i64 = 10_000_000_000;
/// The pprof sample label our normaliser reads span ids from.
const SPAN_ID_LABEL: &str = "span_id";

/// `table[index]`, or an error naming the table.
fn at<'a, T>(table: &'a [T], index: i32, what: &str) -> Result<&'a T, String> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .ok_or_else(|| {
            format!(
                "{what} index {index} out of range ({} entries)",
                table.len()
            )
        })
}

/// The sample's own `service.name` attribute, if it has one.
pub(super) fn sample_service(
    dict: &ProfilesDictionary,
    sample: &Sample,
) -> Result<Option<String>, String> {
    for &i in &sample.attribute_indices {
        let attr = at(&dict.attribute_table, i, "attribute")?;
        if at(&dict.string_table, attr.key_strindex, "string")? == SERVICE_NAME_ATTR {
            let value = string_value(attr.value.as_ref().and_then(|v| v.value.as_ref()));
            return Ok(value.map(str::to_string));
        }
    }
    Ok(None)
}

pub(super) struct PprofBuilder<'a> {
    dict: &'a ProfilesDictionary,
    out: pb::Profile,
    strings: HashMap<&'a str, i64>,
    /// pprof id per dictionary index (0 = not copied yet).
    location_ids: Vec<u64>,
    function_ids: Vec<u64>,
    mapping_ids: Vec<u64>,
    name: String,
    /// Multiply values by this (the period, for sample counts of CPU time).
    scale: i64,
}

impl<'a> PprofBuilder<'a> {
    /// Starts the pprof of `profile`: sample type, period and times.
    pub(super) fn new(
        dict: &'a ProfilesDictionary,
        profile: &'a Profile,
        now_ns: i64,
    ) -> Result<Self, String> {
        let time_nanos = i64::try_from(profile.time_unix_nano)
            .map_err(|_| format!("time_unix_nano {} is out of range", profile.time_unix_nano))?;
        let duration_nanos = i64::try_from(profile.duration_nano)
            .map_err(|_| format!("duration_nano {} is out of range", profile.duration_nano))?;
        let mut builder = Self {
            dict,
            out: pb::Profile {
                string_table: vec![String::new()],
                time_nanos: if time_nanos == 0 { now_ns } else { time_nanos },
                duration_nanos: if duration_nanos == 0 {
                    DEFAULT_DURATION_NS
                } else {
                    duration_nanos
                },
                period: profile.period,
                ..Default::default()
            },
            strings: HashMap::from([("", 0)]),
            location_ids: vec![0; dict.location_table.len()],
            function_ids: vec![0; dict.function_table.len()],
            mapping_ids: vec![0; dict.mapping_table.len()],
            name: String::new(),
            scale: 1,
        };
        let sample_type = profile
            .sample_type
            .as_ref()
            .ok_or("sample type is missing")?;
        let (sample_t, sample_u) = builder.value_type(sample_type)?;
        let period = match profile.period_type.as_ref() {
            Some(vt) => Some(builder.value_type(vt)?),
            None => None,
        };
        let (period_t, period_u) = match period {
            Some(p) if profile.period != 0 => p,
            _ => ("", ""),
        };
        let kind = profile_name(&format!("{sample_t}:{sample_u}:{period_t}:{period_u}"));
        let (sample_t, sample_u) = if kind.samples_to_nanos {
            builder.scale = profile.period;
            ("cpu", "nanoseconds")
        } else {
            (sample_t, sample_u)
        };
        builder.name = kind.name;
        builder.out.sample_type = vec![pb::ValueType {
            r#type: builder.intern(sample_t),
            unit: builder.intern(sample_u),
        }];
        if let Some((t, u)) = period {
            builder.out.period_type = Some(pb::ValueType {
                r#type: builder.intern(t),
                unit: builder.intern(u),
            });
        }
        Ok(builder)
    }

    /// The profile's `__name__`.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Adds one sample: its stack, its summed (scaled) value, its string
    /// attributes as labels and its link's span id.
    pub(super) fn add_sample(&mut self, sample: &Sample) -> Result<(), String> {
        let stack = at(&self.dict.stack_table, sample.stack_index, "stack")?;
        let mut location_id = Vec::with_capacity(stack.location_indices.len());
        for &i in &stack.location_indices {
            location_id.push(self.location(i)?);
        }
        let events = if sample.values.is_empty() {
            i64::try_from(sample.timestamps_unix_nano.len()).map_err(|e| e.to_string())?
        } else {
            sample
                .values
                .iter()
                .try_fold(0i64, |sum, &v| sum.checked_add(v))
                .ok_or("sum of sample values overflows")?
        };
        if sample.values.is_empty() && sample.timestamps_unix_nano.is_empty() {
            return Err("sample has neither values nor timestamps".into());
        }
        let value = events
            .checked_mul(self.scale)
            .ok_or("sample value times period overflows")?;
        let mut label = Vec::new();
        for &i in &sample.attribute_indices {
            let dict = self.dict;
            let attr = at(&dict.attribute_table, i, "attribute")?;
            let key = at(&dict.string_table, attr.key_strindex, "string")?;
            if key == SERVICE_NAME_ATTR {
                continue;
            }
            if let Some(v) = string_value(attr.value.as_ref().and_then(|v| v.value.as_ref())) {
                label.push(pb::Label {
                    key: self.intern(key),
                    str: self.intern(v),
                    ..Default::default()
                });
            }
        }
        if sample.link_index != 0 {
            let link = at(&self.dict.link_table, sample.link_index, "link")?;
            if link.span_id.len() == 8 {
                let hex: String = link.span_id.iter().map(|b| format!("{b:02x}")).collect();
                label.push(pb::Label {
                    key: self.intern(SPAN_ID_LABEL),
                    str: self.intern_owned(&hex),
                    ..Default::default()
                });
            }
        }
        self.out.sample.push(pb::Sample {
            location_id,
            value: vec![value],
            label,
        });
        Ok(())
    }

    pub(super) fn finish(self) -> pb::Profile {
        self.out
    }

    fn value_type(&self, vt: &ValueType) -> Result<(&'a str, &'a str), String> {
        let dict = self.dict;
        Ok((
            at(&dict.string_table, vt.type_strindex, "string")?,
            at(&dict.string_table, vt.unit_strindex, "string")?,
        ))
    }

    fn string(&mut self, index: i32) -> Result<i64, String> {
        let dict = self.dict;
        Ok(self.intern(at(&dict.string_table, index, "string")?))
    }

    fn intern(&mut self, s: &'a str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.out.string_table.len() as i64;
        self.out.string_table.push(s.to_string());
        self.strings.insert(s, i);
        i
    }

    /// Adds a string that does not live in the dictionary (span ids). Not
    /// deduplicated: a repeated entry in a pprof string table is harmless.
    fn intern_owned(&mut self, s: &str) -> i64 {
        self.out.string_table.push(s.to_string());
        self.out.string_table.len() as i64 - 1
    }

    fn location(&mut self, index: i32) -> Result<u64, String> {
        let dict = self.dict;
        let loc = at(&dict.location_table, index, "location")?;
        let slot = index as usize;
        if self.location_ids[slot] != 0 {
            return Ok(self.location_ids[slot]);
        }
        let mapping_id = if loc.mapping_index == 0 {
            0
        } else {
            self.mapping(loc.mapping_index)?
        };
        let mut line = Vec::with_capacity(loc.lines.len());
        for l in &loc.lines {
            line.push(pb::Line {
                function_id: self.function(l.function_index)?,
                line: l.line,
            });
        }
        let id = self.out.location.len() as u64 + 1;
        self.out.location.push(pb::Location {
            id,
            mapping_id,
            address: loc.address,
            line,
            ..Default::default()
        });
        self.location_ids[slot] = id;
        Ok(id)
    }

    fn function(&mut self, index: i32) -> Result<u64, String> {
        let dict = self.dict;
        let f = at(&dict.function_table, index, "function")?;
        let slot = index as usize;
        if self.function_ids[slot] != 0 {
            return Ok(self.function_ids[slot]);
        }
        let id = self.out.function.len() as u64 + 1;
        let function = pb::Function {
            id,
            name: self.string(f.name_strindex)?,
            system_name: self.string(f.system_name_strindex)?,
            filename: self.string(f.filename_strindex)?,
            start_line: f.start_line,
        };
        self.out.function.push(function);
        self.function_ids[slot] = id;
        Ok(id)
    }

    fn mapping(&mut self, index: i32) -> Result<u64, String> {
        let dict = self.dict;
        let m = at(&dict.mapping_table, index, "mapping")?;
        let slot = index as usize;
        if self.mapping_ids[slot] != 0 {
            return Ok(self.mapping_ids[slot]);
        }
        let id = self.out.mapping.len() as u64 + 1;
        let mapping = pb::Mapping {
            id,
            memory_start: m.memory_start,
            memory_limit: m.memory_limit,
            file_offset: m.file_offset,
            filename: self.string(m.filename_strindex)?,
            ..Default::default()
        };
        self.out.mapping.push(mapping);
        self.mapping_ids[slot] = id;
        Ok(id)
    }
}
