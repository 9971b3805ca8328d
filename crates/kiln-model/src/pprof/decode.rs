//! Bounded decoding: gzip sniffing and decompression, then prost.

use crate::error::ModelError;
use crate::limits::exceeds;
use flate2::bufread::MultiGzDecoder;
use kiln_proto::google::v1::Profile;
use prost::Message;
use std::borrow::Cow;
use std::io::Read;

/// The two magic bytes that open every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `bytes` starts with the gzip magic. Agents gzip pprof with or
/// without saying so, so the body itself is the only reliable signal.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Gunzips `bytes` if they start with the gzip magic, else borrows them.
///
/// Concatenated gzip members are decoded as one stream. At most `limit + 1`
/// bytes are ever inflated, so a gzip bomb costs `limit` bytes of memory, not
/// its expanded size. Either way the result must fit in `limit` bytes
/// (`0` = no limit), since the limit is on the profile, not on its encoding.
pub fn decompress_if_gzip(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, ModelError> {
    if !is_gzip(bytes) {
        if exceeds(limit, bytes.len()) {
            return Err(ModelError::DecompressedTooLarge { limit });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    // The `bufread` decoder reads the slice in place (no 32 KiB copy buffer).
    let decoder = MultiGzDecoder::new(bytes);
    let mut out = Vec::with_capacity(initial_capacity(bytes, limit));
    let read = if limit == 0 {
        decoder.take(u64::MAX).read_to_end(&mut out)
    } else {
        decoder
            .take((limit as u64).saturating_add(1))
            .read_to_end(&mut out)
    };
    read.map_err(|e| ModelError::Gzip(e.to_string()))?;
    if exceeds(limit, out.len()) {
        return Err(ModelError::DecompressedTooLarge { limit });
    }
    Ok(Cow::Owned(out))
}

/// Deflate never expands more than about 1032:1, so no honest gzip member
/// inflates to more than this many times its compressed size.
const MAX_DEFLATE_RATIO: usize = 1032;

/// The inflated size to reserve up front: the gzip trailer's ISIZE (the last
/// member's size mod 2^32, so only a hint) when deflate could produce it from
/// these bytes, else a guess of 4× (pprof compresses about 4×); always capped
/// by the limit, so that a tiny bomb cannot make us reserve much up front.
fn initial_capacity(gz: &[u8], limit: usize) -> usize {
    let compressed = gz.len();
    let trailer = gz
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes([gz[at], gz[at + 1], gz[at + 2], gz[at + 3]]) as usize);
    let guess = match trailer {
        Some(isize) if isize > 0 && isize <= compressed.saturating_mul(MAX_DEFLATE_RATIO) => isize,
        _ => compressed.saturating_mul(4),
    }
    .min(64 << 20);
    if limit == 0 {
        guess
    } else {
        guess.min(limit.saturating_add(1))
    }
}

/// Decodes a pprof profile, gzipped or not, within `limits.max_decompressed_bytes`.
///
/// Truncated messages and invalid UTF-8 in the string table are
/// [`ModelError::Protobuf`]; nothing is validated beyond the wire format
/// (that is [`super::normalise`]'s job).
pub fn decode(
    bytes: &[u8],
    limits: &crate::limits::NormalizeLimits,
) -> Result<Profile, ModelError> {
    let raw = decompress_if_gzip(bytes, limits.max_decompressed_bytes)?;
    Profile::decode(raw.as_ref()).map_err(|e| ModelError::Protobuf(e.to_string()))
}

#[cfg(test)]
mod limit_edge_tests {
    use super::*;

    #[test]
    fn maximal_limit_does_not_overflow() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"hello").unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(
            decompress_if_gzip(&bytes, usize::MAX).unwrap().as_ref(),
            b"hello"
        );
    }
}
