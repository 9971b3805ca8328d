//! Kiln's SQL interface: ask questions no fixed API answers.
//!
//! ```text
//!  POST /api/v1/sql, `kiln sql`, Flight SQL ─► SqlEngine::query(tenant, sql, limits)
//!     ─► session (one per request): the tenant's tables + Kiln functions,
//!        file access and DDL/DML refused, memory pool capped
//!     ─► DataFusion plan ─► table scans over the tenant's blocks
//!        (time range, service and profile type pushed down to the
//!        metastore listing, the postings and Parquet row groups/pages)
//!     ─► batches (row limit, timeout)
//! ```
//!
//! Parts: `session` ([`SqlEngine`], [`SqlLimits`]), `blocks` (the only way
//! to reach data: one tenant's blocks), `tables` (the six tables),
//! `pushdown` (filters → time range and series), `pre_aggregate` (sums
//! per stack inside the scan when a query only sums over time), `execute`
//! (running a plan on the query engine's runtime), [`functions`],
//! [`flight`] (Arrow Flight SQL over the engine).
//! `docs/sql.md` is the user's reference.

mod blocks;
pub mod encode;
mod error;
mod execute;
pub mod flight;
pub mod functions;
mod pre_aggregate;
mod pushdown;
mod session;
mod tables;

pub use error::SqlError;
pub use session::{SqlBatchStream, SqlEngine, SqlLimits, SqlResult, TABLES};
