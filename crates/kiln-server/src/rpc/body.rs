//! Bounded body reading and bounded gzip inflation.
//!
//! Both limits are the tenant's `limits.ingestion_body_limit_mb`: the body
//! is cut off once it passes the limit (with or without Content-Length,
//! chunked or HTTP/2 DATA frames alike), and inflation stops one byte past
//! the limit, so a gzip bomb costs at most `limit` bytes of memory.

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// Compressed inputs larger than this are inflated on the blocking pool so
/// that a big body does not stall the I/O threads (style: async discipline).
const INLINE_GUNZIP_MAX: usize = 64 * 1024;

/// Reads the whole body, failing once it exceeds `limit` bytes.
pub(crate) async fn read(body: Body, limit: Option<usize>) -> Result<Bytes, ApiError> {
    let collected = match limit {
        Some(limit) => Limited::new(body, limit).collect().await.map_err(|err| {
            match err.downcast_ref::<LengthLimitError>() {
                Some(_) => ApiError::BodyTooLarge {
                    what: "request body",
                    limit_bytes: limit,
                },
                None => ApiError::BodyRead(err.to_string()),
            }
        })?,
        None => body
            .collect()
            .await
            .map_err(|err| ApiError::BodyRead(err.to_string()))?,
    };
    Ok(collected.to_bytes())
}

/// Inflates gzip `data` (one or more members), failing once the output
/// exceeds `limit` bytes.
pub(crate) async fn gunzip(data: Bytes, limit: Option<usize>) -> Result<Bytes, ApiError> {
    if data.len() <= INLINE_GUNZIP_MAX {
        return gunzip_blocking(&data, limit);
    }
    tokio::task::spawn_blocking(move || gunzip_blocking(&data, limit))
        .await
        .map_err(|err| ApiError::internal(format!("gzip task failed: {err}")))?
}

fn gunzip_blocking(data: &[u8], limit: Option<usize>) -> Result<Bytes, ApiError> {
    let cap = limit.map_or(u64::MAX, |limit| limit as u64 + 1);
    let initial = data
        .len()
        .saturating_mul(4)
        .min(limit.unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(initial);
    MultiGzDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|err| ApiError::BadGzip(err.to_string()))?;
    if let Some(limit) = limit
        && out.len() > limit
    {
        return Err(ApiError::BodyTooLarge {
            what: "decompressed request body",
            limit_bytes: limit,
        });
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap().into()
    }

    #[tokio::test]
    async fn inflates_within_limit() {
        let out = gunzip(gzip(b"hello"), Some(5)).await.unwrap();
        assert_eq!(&out[..], b"hello");
    }

    #[tokio::test]
    async fn bomb_is_stopped_at_limit() {
        // 64 MiB of zeros compress to ~64 KiB; the limit stops inflation early.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        let err = gunzip(bomb, Some(1 << 20)).await.unwrap_err();
        assert!(
            matches!(err, ApiError::BodyTooLarge { limit_bytes, .. } if limit_bytes == 1 << 20),
            "{err}"
        );
    }

    #[tokio::test]
    async fn garbage_is_bad_gzip() {
        let err = gunzip(Bytes::from_static(b"not gzip"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::BadGzip(_)), "{err}");
    }

    #[tokio::test]
    async fn body_limit() {
        let body = Body::from(vec![1u8; 10]);
        let err = read(body, Some(9)).await.unwrap_err();
        assert!(matches!(err, ApiError::BodyTooLarge { .. }), "{err}");
        let body = Body::from(vec![1u8; 10]);
        assert_eq!(read(body, Some(10)).await.unwrap().len(), 10);
    }
}
