//! Test inputs built in code (small pprofs, push requests, gzip) and the
//! expected numbers computed straight from raw payloads, independently of
//! the server's own decoding.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use kiln_proto::google::v1::{Function, Line, Location, Profile, Sample, ValueType};
use kiln_proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use kiln_proto::types::v1::LabelPair;
use prost::Message;

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Inflates `data` if it starts with the gzip magic, else returns it as is.
pub fn gunzip_if_gzip(data: &[u8]) -> Vec<u8> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data.to_vec();
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Standard base64 with padding (protojson's encoding of `bytes`).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Builds a pprof from stacks of function names (root first).
#[derive(Debug, Default)]
pub struct PprofBuilder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<String, u64>,
}

impl PprofBuilder {
    /// A profile with these `(type, unit)` sample types and period type.
    pub fn new(sample_types: &[(&str, &str)], period: (&str, &str), period_value: i64) -> Self {
        let mut b = Self::default();
        b.string(""); // index 0 is the empty string
        let types: Vec<ValueType> = sample_types
            .iter()
            .map(|(t, u)| b.value_type(t, u))
            .collect();
        b.profile.sample_type = types;
        b.profile.period_type = Some(b.value_type(period.0, period.1));
        b.profile.period = period_value;
        b
    }

    /// `cpu:nanoseconds` sampled every 10 ms, stamped now.
    pub fn cpu() -> Self {
        Self::new(
            &[("cpu", "nanoseconds")],
            ("cpu", "nanoseconds"),
            10_000_000,
        )
        .time(now_ns())
    }

    pub fn time(mut self, time_nanos: i64) -> Self {
        self.profile.time_nanos = time_nanos;
        self
    }

    /// Adds a sample with one value per sample type.
    pub fn sample(mut self, stack_root_first: &[&str], values: &[i64]) -> Self {
        let location_id = stack_root_first
            .iter()
            .rev() // pprof lists the leaf first
            .map(|name| self.function(name))
            .collect();
        self.profile.sample.push(Sample {
            location_id,
            value: values.to_vec(),
            label: vec![],
        });
        self
    }

    /// Direct access for tests that break the profile on purpose.
    pub fn profile_mut(&mut self) -> &mut Profile {
        &mut self.profile
    }

    pub fn encode(self) -> Vec<u8> {
        self.profile.encode_to_vec()
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn value_type(&mut self, t: &str, u: &str) -> ValueType {
        ValueType {
            r#type: self.string(t),
            unit: self.string(u),
        }
    }

    /// The location (= function) id of `name`, created on first use.
    fn function(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.functions.get(name) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name_index = self.string(name);
        self.profile.function.push(Function {
            id,
            name: name_index,
            system_name: name_index,
            filename: 0,
            start_line: 0,
        });
        self.profile.location.push(Location {
            id,
            mapping_id: 0,
            address: 0,
            line: vec![Line {
                function_id: id,
                line: 0,
            }],
            is_folded: false,
        });
        self.functions.insert(name.to_string(), id);
        id
    }
}

pub fn label_pairs(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| LabelPair {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// A push of one series holding one raw profile.
pub fn push_request(labels: &[(&str, &str)], raw_profile: Vec<u8>) -> PushRequest {
    PushRequest {
        series: vec![RawProfileSeries {
            labels: label_pairs(labels),
            samples: vec![RawSample {
                raw_profile,
                id: String::new(),
            }],
            annotations: vec![],
        }],
    }
}

/// A valid CPU push for `service` with one stack worth `value` ns.
pub fn cpu_push(service: &str, extra: &[(&str, &str)], value: i64) -> PushRequest {
    let mut labels = vec![("__name__", "process_cpu"), ("service_name", service)];
    labels.extend_from_slice(extra);
    let pprof = PprofBuilder::cpu()
        .sample(&["main", "work"], &[value])
        .encode();
    push_request(&labels, pprof)
}

/// Decodes a pprof, gzipped or not.
pub fn decode_pprof(raw: &[u8]) -> Profile {
    Profile::decode(gunzip_if_gzip(raw).as_slice()).expect("valid pprof")
}

/// Sum of values per sample type `type:unit`, straight from a pprof.
pub fn pprof_totals(raw: &[u8]) -> BTreeMap<String, i64> {
    let profile = decode_pprof(raw);
    let s = |i: i64| profile.string_table[i as usize].clone();
    let mut totals = BTreeMap::new();
    for (i, st) in profile.sample_type.iter().enumerate() {
        let sum: i64 = profile.sample.iter().map(|x| x.value[i]).sum();
        *totals
            .entry(format!("{}:{}", s(st.r#type), s(st.unit)))
            .or_default() += sum;
    }
    totals
}

/// `period_type:period_unit` of a pprof (`":"` when absent).
pub fn pprof_period(raw: &[u8]) -> String {
    let profile = decode_pprof(raw);
    let s = |i: i64| profile.string_table[i as usize].clone();
    match &profile.period_type {
        Some(vt) => format!("{}:{}", s(vt.r#type), s(vt.unit)),
        None => ":".into(),
    }
}

/// Sum of the counts of a folded body (`a;b;c <count>` per line).
pub fn folded_count(body: &[u8]) -> i64 {
    String::from_utf8(gunzip_if_gzip(body))
        .expect("UTF-8 folded text")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (_, count) = l.trim().rsplit_once(' ').expect("folded line has a count");
            count.parse::<i64>().expect("integer count")
        })
        .sum()
}
