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

/// OTLP profiles field numbers (spec §10, v1development as of the Go
/// modules v0.3.0): pinned on the wire so a renumbering is caught.
#[test]
fn otlp_profiles_field_numbers() {
    use crate::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
    use crate::opentelemetry::proto::profiles::v1development::{
        Profile, ProfilesDictionary, Sample, Stack,
    };
    let sample = Sample {
        stack_index: 1,
        attribute_indices: vec![2],
        link_index: 3,
        values: vec![4],
        timestamps_unix_nano: vec![5],
    };
    assert_eq!(
        sample.encode_to_vec(),
        [
            0x08, 1, // stack_index = 1 (varint)
            0x12, 1, 2, // attribute_indices = 2 (packed)
            0x18, 3, // link_index = 3
            0x22, 1, 4, // values = 4 (packed)
            0x2a, 8, 5, 0, 0, 0, 0, 0, 0, 0, // timestamps = 5 (packed fixed64)
        ]
    );
    let profile = Profile {
        time_unix_nano: 1,
        period: 2,
        ..Default::default()
    };
    // time_unix_nano = 3 (fixed64), period = 6 (varint).
    assert_eq!(
        profile.encode_to_vec(),
        [0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x30, 2]
    );
    let dictionary = ProfilesDictionary {
        string_table: vec![String::new()],
        stack_table: vec![Stack::default()],
        ..Default::default()
    };
    // string_table = 5, stack_table = 7.
    assert_eq!(dictionary.encode_to_vec(), [0x2a, 0, 0x3a, 0]);
    let request = ExportProfilesServiceRequest {
        resource_profiles: vec![],
        dictionary: Some(ProfilesDictionary::default()),
    };
    assert_eq!(request.encode_to_vec(), [0x12, 0], "dictionary = 2");
}

#[test]
fn otlp_json_is_protojson() {
    use crate::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
    let json = r#"{"resourceProfiles":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
        "scopeProfiles":[{"profiles":[{"timeUnixNano":"1700000000000000000","samples":[{"stackIndex":1,"values":["7"]}]}]}]}],
        "dictionary":{"stringTable":["","cpu"],"stackTable":[{},{"locationIndices":[1]}]}}"#;
    let request: ExportProfilesServiceRequest = serde_json::from_str(json).unwrap();
    let profile = &request.resource_profiles[0].scope_profiles[0].profiles[0];
    assert_eq!(profile.time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(profile.samples[0].values, vec![7]);
    assert_eq!(
        request.dictionary.unwrap().stack_table[1].location_indices,
        vec![1]
    );
}
