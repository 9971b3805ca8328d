//! End-to-end tests: drive Kiln through its public interfaces (the real
//! `kiln` binary, its port and its data directory).
//!
//! * [`server`]: the binary as a child process, clients for every protocol,
//!   and the stored data read back with the library APIs.
//! * [`fixtures`]: pprofs and pushes built in code, expected numbers from
//!   raw payloads.
//! * [`agents`]: every captured agent payload replayed as it was sent.
//! * [`protocols`]: Push over Connect (proto, JSON, gzip, chunked, h2c),
//!   gRPC, gRPC-Web and `/ingest`, each reaching storage.
//! * [`bad_input`]: the bad-input suite (statuses, codes, messages).
//! * [`crash`]: acknowledged pushes survive `kill -9`.
//! * [`metrics`]: the write path's Prometheus metrics after real pushes.
//! * [`sql`]: `POST /api/v1/sql` (JSON, CSV, Arrow IPC, errors, tenants)
//!   and `kiln sql` (one-shot and shell).
//! * [`cluster`]: what `roles` and `fleet` share: a fresh PostgreSQL
//!   database and S3 prefix, role processes on them, waiting for compaction.
//! * [`fleet`]: one process per role on S3 (moto) + PostgreSQL, an
//!   ingester and a querier killed under load, answers equal one process's.
//! * [`block_files`]: blocks are plain Parquet a third party can read.
//! * [`bench_query`]: `kiln bench query` on a tiny dataset (answers checked).
//! * [`bench_scale_out`]: `kiln bench scale-out` on a tiny dataset: frontend
//!   alone, with 1 and 2 queriers (answers checked).
//! * [`object_stores`]: the server on S3 (moto) and Azure (Azurite): push,
//!   query, restart, query again.
//! * [`roles`]: `--target=<role>` processes on one bucket and one
//!   PostgreSQL: what each role serves and refuses, `/ready`, `/metrics`.
//! * [`postgres_metastore`]: the server on a PostgreSQL metastore: restart,
//!   two servers sharing one bucket and one database, database down.
//! * [`deploy_manifests`]: `deploy/kubernetes` parses, loads with Kiln's
//!   config loader and wires Services, budgets and autoscaler to the roles;
//!   each Deployment's process becomes ready on S3 (moto) + PostgreSQL.

mod agents;
mod bad_input;
mod bench_query;
mod bench_scale_out;
mod block_files;
mod cluster;
mod crash;
mod deploy_manifests;
mod fixtures;
mod fleet;
mod harness;
mod metrics;
mod object_stores;
mod otlp;
mod postgres_metastore;
mod protocols;
mod query;
mod roles;
mod server;
mod sql;
