//! The borrowing wire decoder against prost: every encoding it reads must
//! give exactly `decode` + `normalise`'s result, and everything else must
//! fall back to prost (same result or same error).

use super::{cpu_labels, simple};
use crate::limits::NormalizeLimits;
use crate::pprof::{decode, decode_and_normalise, normalise, wire};
use prost::Message;

/// Both paths' results, as comparable text (errors included).
fn both(bytes: &[u8]) -> (String, String) {
    let limits = NormalizeLimits::default();
    let fused = decode_and_normalise(bytes, &cpu_labels(), "id", &limits);
    let reference =
        decode(bytes, &limits).and_then(|p| normalise(&p, &cpu_labels(), "id", &limits));
    (format!("{fused:?}"), format!("{reference:?}"))
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u64, wire: u64, out: &mut Vec<u8>) {
    varint(field << 3 | wire, out);
}

fn len_field(field: u64, body: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// One of each skippable unknown field: varint, fixed64, bytes, fixed32.
fn unknown_fields(out: &mut Vec<u8>) {
    key(100, 0, out);
    varint(u64::MAX, out);
    key(101, 1, out);
    out.extend_from_slice(&[7; 8]);
    len_field(102, b"ignored", out);
    key(103, 5, out);
    out.extend_from_slice(&[9; 4]);
}

#[test]
fn unpacked_repeated_fields_and_unknown_fields_read_like_prost() {
    let mut bytes = simple().encode_to_vec();
    // A sample with unpacked, interleaved location ids and values (location
    // 2 = `work`, 1 = `main`), and unknown fields inside and outside it.
    let mut sample = Vec::new();
    key(1, 0, &mut sample);
    varint(2, &mut sample);
    key(2, 0, &mut sample);
    varint(3, &mut sample);
    unknown_fields(&mut sample);
    key(1, 0, &mut sample);
    varint(1, &mut sample);
    key(2, 0, &mut sample);
    varint(30, &mut sample);
    len_field(2, &sample, &mut bytes);
    unknown_fields(&mut bytes);

    assert!(wire::decode(&bytes).is_some(), "handled by the fast path");
    let (fused, reference) = both(&bytes);
    assert!(reference.starts_with("Ok("), "{reference}");
    assert_eq!(fused, reference);
    let out = decode_and_normalise(&bytes, &cpu_labels(), "id", &Default::default()).unwrap();
    let cpu = out
        .iter()
        .find(|p| p.profile_type.sample_type == "cpu")
        .unwrap();
    assert_eq!(cpu.total(), 10 + 20 + 5 + 30);
}

#[test]
fn a_repeated_period_type_is_merged_like_prost() {
    let mut bytes = simple().encode_to_vec();
    // Only the unit: prost merges it into the first period_type.
    let mut vt = Vec::new();
    key(2, 0, &mut vt);
    varint(1, &mut vt);
    len_field(11, &vt, &mut bytes);
    assert!(wire::decode(&bytes).is_some());
    let (fused, reference) = both(&bytes);
    assert!(
        reference.contains("period_unit: \"samples\""),
        "{reference}"
    );
    assert_eq!(fused, reference);
}

#[test]
fn groups_and_bad_wire_types_fall_back_to_prost() {
    let base = simple().encode_to_vec();
    // A group prost skips: accepted by prost only.
    let mut group = base.clone();
    key(100, 3, &mut group);
    key(1, 0, &mut group);
    varint(5, &mut group);
    key(100, 4, &mut group);
    // Wire type 6 does not exist; a string sent as a varint; field 0.
    let mut bad_wire = base.clone();
    key(100, 6, &mut bad_wire);
    let mut string_as_varint = base.clone();
    key(6, 0, &mut string_as_varint);
    varint(1, &mut string_as_varint);
    let mut field_zero = base.clone();
    key(0, 0, &mut field_zero);
    varint(1, &mut field_zero);
    let mut bad_utf8 = base;
    len_field(6, &[0xff, 0xfe], &mut bad_utf8);

    for (name, bytes) in [
        ("group", &group),
        ("wire type 6", &bad_wire),
        ("string as varint", &string_as_varint),
        ("field 0", &field_zero),
        ("invalid UTF-8", &bad_utf8),
    ] {
        assert!(wire::decode(bytes).is_none(), "{name}: left to prost");
        let (fused, reference) = both(bytes);
        assert_eq!(fused, reference, "{name}");
    }
    assert!(both(&group).1.starts_with("Ok("));
    assert!(both(&bad_utf8).1.contains("Protobuf"));
}

#[test]
fn every_truncation_gives_prosts_result() {
    let bytes = simple().encode_to_vec();
    for cut in 0..bytes.len() {
        let (fused, reference) = both(&bytes[..cut]);
        assert_eq!(fused, reference, "cut at {cut}");
    }
}

#[test]
fn overlong_varints_give_prosts_result() {
    let mut bytes = simple().encode_to_vec();
    // time_nanos as an 11-byte varint, then one whose 10th byte is 2.
    key(9, 0, &mut bytes);
    bytes.extend_from_slice(&[0x80; 10]);
    bytes.push(0);
    let (fused, reference) = both(&bytes);
    assert_eq!(fused, reference);
    let mut bytes = simple().encode_to_vec();
    key(9, 0, &mut bytes);
    bytes.extend_from_slice(&[0xff; 9]);
    bytes.push(2);
    let (fused, reference) = both(&bytes);
    assert_eq!(fused, reference);
    // The largest valid one (10th byte 1) is read by the fast path.
    let mut bytes = simple().encode_to_vec();
    key(9, 0, &mut bytes);
    bytes.extend_from_slice(&[0xff; 9]);
    bytes.push(1);
    assert!(wire::decode(&bytes).is_some());
    let (fused, reference) = both(&bytes);
    assert_eq!(fused, reference);
    assert!(reference.contains("time_nanos: -1"), "{reference}");
}
