//! End-to-end protocol tests: the real server on 127.0.0.1:0, driven by real
//! HTTP/1.1 and h2c clients (hyper-util), tonic's generated gRPC client and
//! tonic-web's gRPC-Web client layer, with a recording fake `PushSink` and a
//! fake `QueryEngine` answering fixed trees and series.

#[path = "server/fake_engine.rs"]
mod fake_engine;
#[path = "server/harness.rs"]
mod harness;

#[path = "server/connect.rs"]
mod connect;
#[path = "server/errors.rs"]
mod errors;
#[path = "server/grpc.rs"]
mod grpc;
#[path = "server/ops.rs"]
mod ops;
#[path = "server/otlp.rs"]
mod otlp;
#[path = "server/querier.rs"]
mod querier;
