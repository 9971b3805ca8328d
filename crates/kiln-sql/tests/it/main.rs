//! kiln-sql integration tests: blocks written from the real agent payloads
//! (`../shared/testdata/agents`) into an object store, SQL through the
//! public [`kiln_sql::SqlEngine`]. One binary (each links DataFusion).

mod cache;
mod data;
mod docs;
mod flight;
mod refusals;
mod tables;
