//! kiln-block integration tests: one binary, every test against both the
//! in-memory and the local-filesystem object store.

mod common;
mod files;
mod pushdown;
mod rollup;
mod roundtrip;
mod stream;
