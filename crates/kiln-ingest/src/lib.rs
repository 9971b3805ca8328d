//! Kiln's write path.
//!
//! ```text
//!  PushRequest / legacy /ingest body / OTLP ExportProfilesServiceRequest (otlp)
//!    ─► push::decode (off the async threads: gzip sniff, pprof decode, normalise)
//!    ─► limits: time window, rate (token bucket), series per tenant
//!    ─► Ingester::ingest: wait for buffer budget (bounded) ─► per-tenant buffer
//!    ─► flusher (every flush_interval, or when a tenant's buffer is full):
//!         encode level-0 block ─► object store (meta.json last) ─► metastore.register
//!    ─► every push waiting on that buffer is acknowledged with the flush's result
//! ```
//!
//! Observability: [`metrics`] defines the `kiln_ingest_*` Prometheus metrics
//! (pushes, bytes, errors by reason, flush latency and size, buffered bytes).
//!
//! Invariants:
//! - a push is acknowledged only after its block is written and registered;
//!   nothing acknowledged lives only in memory;
//! - concurrent pushes of one tenant share one flush;
//! - buffered bytes never exceed `max_buffer_bytes`: pushes wait up to
//!   `max_wait` for room, then fail with `Unavailable`.

mod error;
mod flusher;
pub mod legacy;
pub mod limits;
pub mod metrics;
pub mod otlp;
pub mod push;
mod service;

pub use error::IngestError;
pub use flusher::{Ingester, IngesterConfig};
pub use limits::IngestLimits;
pub use service::{IngestService, LimitsFn};
