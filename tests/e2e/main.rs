//! End-to-end tests: drive Kiln through its public interfaces (the real
//! `kiln` binary, its ports and its data directory).

mod block_files;
mod harness;
