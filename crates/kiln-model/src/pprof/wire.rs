//! A borrowing pprof decoder: protobuf wire format straight into a
//! [`ProfileView`], strings borrowed from the input and repeated fields
//! appended to flat tables, instead of prost's owned `String` and `Vec` per
//! string, sample and location (the bulk of decoding a small profile).
//!
//! It accepts a subset of what prost accepts and reads it identically:
//! anything it does not handle (groups, invalid UTF-8, truncation, wrong
//! wire types, …) returns `None`, and the caller decodes with prost instead,
//! which then reports the error (or succeeds) exactly as before.

use super::view::{
    FunctionRef, LabelRef, LineRef, LocationRef, MappingRef, ProfileView, SampleRef,
};

/// Wire types of the protobuf encoding.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Decodes `bytes` as a `google.v1.Profile`, or `None` when the prost path
/// must decide.
pub(super) fn decode(bytes: &[u8]) -> Option<ProfileView<'_>> {
    let mut view = ProfileView::default();
    reserve(bytes, &mut view);
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => view
                .sample_types
                .push(value_type(r.message(wire)?, (0, 0))?),
            2 => {
                let sample = sample(r.message(wire)?, &mut view)?;
                view.samples.push(sample);
            }
            3 => view.mappings.push(mapping(r.message(wire)?)?),
            4 => {
                let loc = location(r.message(wire)?, &mut view.lines)?;
                view.locations.push(loc);
            }
            5 => view.functions.push(function(r.message(wire)?)?),
            6 => view
                .strings
                .push(std::str::from_utf8(r.message(wire)?).ok()?),
            9 => view.time_nanos = r.int64(wire)?,
            10 => view.duration_nanos = r.int64(wire)?,
            // An optional message seen twice is merged, as prost does.
            11 => {
                let seen = view.period_type.unwrap_or_default();
                view.period_type = Some(value_type(r.message(wire)?, seen)?);
            }
            12 => view.period = r.int64(wire)?,
            // drop_frames, keep_frames, default_sample_type: unused.
            7 | 8 | 14 => {
                r.int64(wire)?;
            }
            13 => r.repeated_varints(wire, |_| ())?,
            _ => r.skip(wire)?,
        }
    }
    Some(view)
}

/// Sizes the tables from a quick pass over the top-level fields, so that
/// they are allocated once instead of grown (a malformed input just stops
/// the count; `decode` decides what to do with it).
fn reserve(bytes: &[u8], view: &mut ProfileView<'_>) {
    let mut counts = [0usize; 7];
    let mut r = Reader(bytes);
    while let Some(Some((field, wire))) = r.key() {
        if let Some(n) = counts.get_mut(field as usize) {
            *n += 1;
        }
        if r.skip(wire).is_none() {
            break;
        }
    }
    let [_, types, samples, mappings, locations, functions, strings] = counts;
    view.sample_types.reserve(types);
    view.samples.reserve(samples);
    // Every value takes at least one input byte: no absurd reservation.
    view.values
        .reserve(samples.saturating_mul(types).min(bytes.len()));
    view.mappings.reserve(mappings);
    view.locations.reserve(locations);
    view.lines.reserve(locations);
    view.functions.reserve(functions);
    view.strings.reserve(strings);
}

fn value_type(bytes: &[u8], (mut ty, mut unit): (i64, i64)) -> Option<(i64, i64)> {
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => ty = r.int64(wire)?,
            2 => unit = r.int64(wire)?,
            _ => r.skip(wire)?,
        }
    }
    Some((ty, unit))
}

fn sample(bytes: &[u8], view: &mut ProfileView<'_>) -> Option<SampleRef> {
    let (locs, values, labels) = (
        view.location_ids.len(),
        view.values.len(),
        view.labels.len(),
    );
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => r.repeated_varints(wire, |v| view.location_ids.push(v))?,
            2 => r.repeated_varints(wire, |v| view.values.push(v as i64))?,
            3 => view.labels.push(label(r.message(wire)?)?),
            _ => r.skip(wire)?,
        }
    }
    Some(SampleRef {
        location_ids: locs..view.location_ids.len(),
        values: values..view.values.len(),
        labels: labels..view.labels.len(),
    })
}

fn label(bytes: &[u8]) -> Option<LabelRef> {
    let mut l = LabelRef::default();
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => l.key = r.int64(wire)?,
            2 => l.str = r.int64(wire)?,
            3 => {
                r.int64(wire)?;
            }
            4 => l.num_unit = r.int64(wire)?,
            _ => r.skip(wire)?,
        }
    }
    Some(l)
}

fn mapping(bytes: &[u8]) -> Option<MappingRef> {
    let mut m = MappingRef::default();
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => m.id = r.uint64(wire)?,
            5 => m.filename = r.int64(wire)?,
            6 => m.build_id = r.int64(wire)?,
            // memory_start, memory_limit, file_offset, has_* flags: unused.
            2..=4 | 7..=10 => {
                r.uint64(wire)?;
            }
            _ => r.skip(wire)?,
        }
    }
    Some(m)
}

fn location(bytes: &[u8], lines: &mut Vec<LineRef>) -> Option<LocationRef> {
    let mut loc = LocationRef {
        lines: lines.len()..lines.len(),
        ..Default::default()
    };
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => loc.id = r.uint64(wire)?,
            2 => loc.mapping_id = r.uint64(wire)?,
            3 => loc.address = r.uint64(wire)?,
            4 => lines.push(line(r.message(wire)?)?),
            // is_folded: unused.
            5 => {
                r.uint64(wire)?;
            }
            _ => r.skip(wire)?,
        }
    }
    loc.lines.end = lines.len();
    Some(loc)
}

fn line(bytes: &[u8]) -> Option<LineRef> {
    let mut l = LineRef::default();
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => l.function_id = r.uint64(wire)?,
            2 => l.line = r.int64(wire)?,
            _ => r.skip(wire)?,
        }
    }
    Some(l)
}

fn function(bytes: &[u8]) -> Option<FunctionRef> {
    let mut f = FunctionRef::default();
    let mut r = Reader(bytes);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => f.id = r.uint64(wire)?,
            2 => f.name = r.int64(wire)?,
            3 => f.system_name = r.int64(wire)?,
            4 => f.filename = r.int64(wire)?,
            // start_line: unused.
            5 => {
                r.int64(wire)?;
            }
            _ => r.skip(wire)?,
        }
    }
    Some(f)
}

/// The unread rest of one message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next field number and wire type; `Some(None)` at the end.
    fn key(&mut self) -> Option<Option<(u32, u8)>> {
        if self.0.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).ok()?;
        let wire = (key & 7) as u8;
        if key > u64::from(u32::MAX) || field == 0 {
            return None;
        }
        Some(Some((field, wire)))
    }

    /// A LEB128 varint; most in a pprof (keys, ids, string indices) are
    /// one byte, so that case is inlined.
    #[inline]
    fn varint(&mut self) -> Option<u64> {
        match self.0.split_first() {
            Some((&b, rest)) if b < 0x80 => {
                self.0 = rest;
                Some(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    /// A varint of at most 10 bytes whose 10th byte is 0 or 1 (prost's
    /// overflow rule).
    #[inline(never)]
    fn long_varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = *self.0.get(i)?;
            if i == 9 && b > 1 {
                return None;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.0 = &self.0[i + 1..];
                return Some(value);
            }
        }
        None
    }

    fn int64(&mut self, wire: u8) -> Option<i64> {
        self.uint64(wire).map(|v| v as i64)
    }

    fn uint64(&mut self, wire: u8) -> Option<u64> {
        (wire == VARINT).then_some(())?;
        self.varint()
    }

    /// The body of a length-delimited field (message, string or packed list).
    fn message(&mut self, wire: u8) -> Option<&'a [u8]> {
        (wire == LEN).then_some(())?;
        let len = usize::try_from(self.varint()?).ok()?;
        let body = self.0.get(..len)?;
        self.0 = &self.0[len..];
        Some(body)
    }

    /// One element (unpacked) or a packed run of a repeated varint field.
    fn repeated_varints(&mut self, wire: u8, mut push: impl FnMut(u64)) -> Option<()> {
        if wire == VARINT {
            push(self.varint()?);
            return Some(());
        }
        let mut packed = Reader(self.message(wire)?);
        while !packed.0.is_empty() {
            push(packed.varint()?);
        }
        Some(())
    }

    /// Skips an unknown field; groups are left to prost.
    fn skip(&mut self, wire: u8) -> Option<()> {
        let len = match wire {
            VARINT => return self.varint().map(drop),
            LEN => return self.message(wire).map(drop),
            FIXED64 => 8,
            FIXED32 => 4,
            _ => return None,
        };
        self.0 = self.0.get(len..)?;
        Some(())
    }
}
