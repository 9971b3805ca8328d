//! kiln-query integration tests: real blocks written with `BlockEncoder`
//! into object stores, an in-memory metastore, and the public engine API.
//! One test binary (see rust-deps.md §2: each binary links DataFusion).

mod cache;
mod codec;
mod common;
mod distributed;
mod labels;
mod merge;
mod pprof;
mod rollups;
mod series;
