//! Message codecs: binary protobuf (prost) and protojson (pbjson serde).
//!
//! The JSON side relies on `kiln_proto`'s pbjson impls, which follow
//! protojson: lowerCamelCase names (proto names also accepted), int64 as
//! strings (numbers also accepted), bytes as base64, unknown fields ignored.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::ApiError;

/// How one message is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Proto,
    Json,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Proto => "proto",
            Codec::Json => "json",
        }
    }

    pub(crate) fn decode<M>(self, message: Bytes) -> Result<M, ApiError>
    where
        M: prost::Message + Default + DeserializeOwned,
    {
        let decode_error = |message: String| ApiError::Decode {
            codec: self.as_str(),
            message,
        };
        match self {
            Codec::Proto => M::decode(message).map_err(|e| decode_error(e.to_string())),
            // An empty body is the empty message, as in binary protobuf.
            Codec::Json if message.iter().all(u8::is_ascii_whitespace) => Ok(M::default()),
            Codec::Json => {
                serde_json::from_slice(&message).map_err(|e| decode_error(e.to_string()))
            }
        }
    }

    pub(crate) fn encode<M>(self, message: &M) -> Result<Bytes, ApiError>
    where
        M: prost::Message + Serialize,
    {
        match self {
            Codec::Proto => Ok(message.encode_to_vec().into()),
            Codec::Json => serde_json::to_vec(message)
                .map(Bytes::from)
                .map_err(|e| ApiError::Encode(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
    use kiln_proto::types::v1::LabelPair;

    use super::*;

    fn sample() -> PushRequest {
        PushRequest {
            series: vec![RawProfileSeries {
                labels: vec![LabelPair {
                    name: "service_name".into(),
                    value: "app".into(),
                }],
                samples: vec![RawSample {
                    raw_profile: vec![1, 2, 3],
                    id: "id-1".into(),
                }],
                annotations: vec![],
            }],
        }
    }

    #[test]
    fn round_trips_both_codecs() {
        for codec in [Codec::Proto, Codec::Json] {
            let bytes = codec.encode(&sample()).unwrap();
            let back: PushRequest = codec.decode(bytes).unwrap();
            assert_eq!(back, sample(), "{codec:?}");
        }
    }

    #[test]
    fn json_is_protojson() {
        let json = Codec::Json.encode(&sample()).unwrap();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains("\"rawProfile\":\"AQID\""), "{text}");
        assert!(text.contains("\"ID\":\"id-1\""), "{text}");
        let empty: PushRequest = Codec::Json.decode(Bytes::from_static(b" ")).unwrap();
        assert_eq!(empty, PushRequest::default());
    }

    #[test]
    fn bad_input_is_invalid_argument() {
        let err = Codec::Proto
            .decode::<PushRequest>(Bytes::from_static(&[0x0a, 0xff]))
            .unwrap_err();
        assert_eq!(err.code(), crate::error::Code::InvalidArgument);
        let err = Codec::Json
            .decode::<PushRequest>(Bytes::from_static(b"{\"series\":5}"))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid json request message"),
            "{err}"
        );
    }
}
