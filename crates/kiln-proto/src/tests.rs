//! Wire-compatibility checks: field numbers with gaps and protojson names.

use crate::push::v1::{PushRequest, RawProfileSeries, RawSample};
use crate::querier::v1::{FlameGraph, Level, SelectMergeStacktracesRequest, SeriesResponse};
use crate::types::v1::{LabelPair, Labels, ProfileType};
use prost::Message;

#[test]
fn series_response_uses_field_two() {
    let response = SeriesResponse {
        labels_set: vec![Labels {
            labels: vec![LabelPair {
                name: "a".into(),
                value: "b".into(),
            }],
        }],
    };
    let bytes = response.encode_to_vec();
    // Tag byte: field 2, wire type 2 (length-delimited) = 0x12.
    assert_eq!(bytes[0], 0x12);
}

#[test]
fn profile_type_sample_type_is_field_four() {
    let pt = ProfileType {
        sample_type: "cpu".into(),
        ..Default::default()
    };
    let bytes = pt.encode_to_vec();
    assert_eq!(bytes[0], 0x22, "field 4, length-delimited");
}

#[test]
fn int64_are_json_strings_and_names_are_lower_camel_case() {
    let fg = FlameGraph {
        names: vec!["total".into()],
        levels: vec![Level {
            values: vec![0, 100, 0, 0],
        }],
        total: 100,
        max_self: 7,
    };
    let json = serde_json::to_value(&fg).unwrap();
    assert_eq!(json["total"], "100");
    assert_eq!(json["maxSelf"], "7");
    assert_eq!(json["levels"][0]["values"][1], "100");
}

#[test]
fn json_accepts_numbers_strings_and_both_name_styles() {
    let req: SelectMergeStacktracesRequest = serde_json::from_str(
        r#"{"profileTypeID":"p","label_selector":"{}","start":"1","end":2,"maxNodes":"16","format":"PROFILE_FORMAT_TREE","unknownField":1}"#,
    )
    .unwrap();
    assert_eq!(req.profile_type_id, "p");
    assert_eq!(req.label_selector, "{}");
    assert_eq!((req.start, req.end, req.max_nodes), (1, 2, Some(16)));
    assert_eq!(req.format, 2);
}

#[test]
fn push_request_json_names() {
    let req = PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![],
            samples: vec![RawSample {
                raw_profile: vec![1, 2, 3],
                id: "x".into(),
            }],
            annotations: vec![],
        }],
    };
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!(json["series"][0]["samples"][0]["rawProfile"], "AQID");
    assert_eq!(json["series"][0]["samples"][0]["ID"], "x");
    let empty = serde_json::to_string(&crate::push::v1::PushResponse {}).unwrap();
    assert_eq!(empty, "{}");
}
