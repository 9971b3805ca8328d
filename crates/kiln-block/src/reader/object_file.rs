//! A Parquet [`AsyncFileReader`] over one object, fetching only the byte
//! ranges the decoder asks for, and counting them.

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Object-store traffic of one [`super::BlockReader`].
#[derive(Debug, Default)]
pub(crate) struct IoCounters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Object-store traffic of a reader so far (see `BlockReader::io_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Ranged or whole-object GET requests issued.
    pub requests: u64,
    /// Bytes received.
    pub bytes: u64,
}

impl IoCounters {
    pub(crate) fn record(&self, requests: u64, bytes: u64) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> IoStats {
        IoStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// One Parquet object of known size.
#[derive(Clone)]
pub(crate) struct ObjectFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    /// Trailing bytes holding page index + footer, from `meta.json` (0 = unknown).
    footer_hint: u64,
    counters: Arc<IoCounters>,
    metadata: Option<Arc<ParquetMetaData>>,
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl ObjectFile {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        size: u64,
        footer_hint: u64,
        counters: Arc<IoCounters>,
    ) -> Self {
        Self {
            store,
            path,
            size,
            footer_hint,
            counters,
            metadata: None,
        }
    }

    /// Uses already-loaded metadata for [`AsyncFileReader::get_metadata`].
    pub fn with_metadata(mut self, metadata: Arc<ParquetMetaData>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Reads the footer and the page index, in one request when the hint covers both.
    pub async fn load_metadata(&mut self) -> Result<Arc<ParquetMetaData>> {
        let hint = (self.footer_hint > 0).then_some(self.footer_hint as usize);
        let size = self.size;
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .with_prefetch_hint(hint)
            .load_and_finish(&mut *self, size)
            .await?;
        Ok(Arc::new(metadata))
    }

    /// The whole object in one request (small files: series, stacks, frames).
    pub async fn get_all(&self) -> std::result::Result<Bytes, object_store::Error> {
        let bytes = self.store.get_range(&self.path, 0..self.size).await?;
        self.counters.record(1, bytes.len() as u64);
        Ok(bytes)
    }
}

impl AsyncFileReader for ObjectFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            let bytes = self
                .store
                .get_range(&self.path, range)
                .await
                .map_err(external)?;
            self.counters.record(1, bytes.len() as u64);
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let parts = self
                .store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)?;
            let bytes = parts.iter().map(|b| b.len() as u64).sum();
            self.counters.record(ranges.len() as u64, bytes);
            Ok(parts)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            match &self.metadata {
                Some(m) => Ok(m.clone()),
                None => {
                    let m = self.load_metadata().await?;
                    self.metadata = Some(m.clone());
                    Ok(m)
                }
            }
        }
        .boxed()
    }
}
