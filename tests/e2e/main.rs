//! End-to-end tests: drive Kiln through its public interfaces (the real
//! `kiln` binary, its port and its data directory).
//!
//! * [`server`]: the binary as a child process, clients for every protocol,
//!   and the stored data read back with the library APIs.
//! * [`agents`]: every captured agent payload replayed as it was sent.
//! * [`block_files`]: blocks are plain Parquet a third party can read.

mod agents;
mod block_files;
mod fixtures;
mod harness;
mod server;
