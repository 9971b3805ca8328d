//! Shared fixtures for benchmarks.
