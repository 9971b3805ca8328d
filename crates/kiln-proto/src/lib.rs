//! Wire types of Kiln's Pyroscope-compatible API.
//!
//! Generated at build time from Kiln's own `.proto` files in `proto/`
//! (written from `shared/spec/pyroscope-api.md`, never copied from upstream):
//!
//! ```text
//!  proto/google/v1/profile.proto  ─► google::v1   (pprof)
//!  proto/types/v1/types.proto     ─► types::v1    (labels, series, …)
//!  proto/push/v1/push.proto       ─► push::v1     (PusherService)
//!  proto/querier/v1/querier.proto ─► querier::v1  (QuerierService)
//!  proto/opentelemetry/proto/…    ─► opentelemetry::proto::{common,resource}::v1,
//!                                    profiles::v1development, collector::profiles::v1development
//!                                    (OTLP profiles, spec §10)
//! ```
//!
//! Every message gets prost binary encoding and protojson-compatible serde
//! impls (lowerCamelCase names, int64 as strings, enums by name, unknown
//! fields ignored) for the Connect JSON codec.

#![allow(clippy::all, missing_docs, unreachable_pub)]

/// The `google.v1` package: pprof's `Profile` under Pyroscope's package name.
pub mod google {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/google.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/google.v1.serde.rs"));
    }
}

/// The `types.v1` package: labels, series, points, label API messages.
pub mod types {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/types.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/types.v1.serde.rs"));
    }
}

/// The `push.v1` package: the ingest service.
pub mod push {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/push.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/push.v1.serde.rs"));
    }
}

/// The `querier.v1` package: the query service.
pub mod querier {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/querier.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/querier.v1.serde.rs"));
    }
}

/// The OTLP subset Kiln ingests: profiles v1development and what it uses.
pub mod opentelemetry {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.common.v1.rs"
                ));
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.common.v1.serde.rs"
                ));
            }
        }
        pub mod resource {
            pub mod v1 {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.resource.v1.rs"
                ));
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.resource.v1.serde.rs"
                ));
            }
        }
        pub mod profiles {
            pub mod v1development {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.profiles.v1development.rs"
                ));
                include!(concat!(
                    env!("OUT_DIR"),
                    "/opentelemetry.proto.profiles.v1development.serde.rs"
                ));
            }
        }
        pub mod collector {
            pub mod profiles {
                pub mod v1development {
                    include!(concat!(
                        env!("OUT_DIR"),
                        "/opentelemetry.proto.collector.profiles.v1development.rs"
                    ));
                    include!(concat!(
                        env!("OUT_DIR"),
                        "/opentelemetry.proto.collector.profiles.v1development.serde.rs"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
